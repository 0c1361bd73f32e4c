// Package deploy holds the deployment examples (systemd, Kubernetes, Prometheus rules, a
// Grafana dashboard); its tests parse and check each of them. The Kubernetes manifests are
// read with go.yaml.in/yaml/v3, the YAML org's maintained yaml.v3, already in the module's
// graph through the Prometheus client: no Python or npm package is needed to run them.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// knownVars are the variables .env.example lists (every variable the bridge reads).
func knownVars(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)=`).FindAllSubmatch(b, -1) {
		out[string(m[1])] = true
	}
	if !out["DIALIN_REDIS_MIN_REPLICAS"] {
		t.Error(".env.example does not list DIALIN_REDIS_MIN_REPLICAS")
	}
	return out
}

// unit is a systemd unit file: section → key → values (a key may repeat).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, b []byte) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d: %q is neither a section nor key=value", n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// TestSystemdUnit: the unit runs the bridge hardened (a dynamic user, its state directory as
// the bolt data directory, a read-only system), sets only variables the bridge reads, and
// systemd-analyze verify finds nothing to say about it.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/dialin-bridge.service")
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, b)
	svc := u["Service"]
	for key, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "dialin-bridge", "ProtectSystem": "strict",
		"ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
		"ExecStart": "/usr/local/bin/dialin-bridge", "KillSignal": "SIGTERM",
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("[Service] %s = %q; want %q", key, got, want)
		}
	}
	env := map[string]string{}
	vars := knownVars(t)
	for _, e := range svc["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		if !vars[k] {
			t.Errorf("Environment sets %s, which the bridge does not read", k)
		}
		env[k] = v
	}
	if env["DIALIN_DATA_DIR"] != "/var/lib/dialin-bridge" {
		t.Errorf("DIALIN_DATA_DIR = %q; want the StateDirectory, /var/lib/dialin-bridge (ProtectSystem=strict leaves nothing else writable)", env["DIALIN_DATA_DIR"])
	}
	if u["Install"]["WantedBy"] == nil {
		t.Error("no [Install] WantedBy")
	}

	// systemd-analyze verify checks every directive and that ExecStart is executable: give it
	// the unit with ExecStart on a freshly built bridge.
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is not installed (scripts/test.sh installs Debian's systemd)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dialin-bridge")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/dialin-bridge").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	copyUnit := bytes.Replace(b, []byte("ExecStart=/usr/local/bin/dialin-bridge"), []byte("ExecStart="+bin), 1)
	path := filepath.Join(dir, "dialin-bridge.service")
	if err := os.WriteFile(path, copyUnit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// manifest is the part of a Kubernetes object the checks read.
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		MinAvailable         *int        `yaml:"minAvailable"`
		Template             podTemplate `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Resources struct {
					Requests map[string]string `yaml:"requests"`
				} `yaml:"resources"`
			} `yaml:"spec"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
		Containers                    []struct {
			Name  string `yaml:"name"`
			Ports []struct {
				Name          string `yaml:"name"`
				ContainerPort int    `yaml:"containerPort"`
			} `yaml:"ports"`
			Env []struct {
				Name  string `yaml:"name"`
				Value string `yaml:"value"`
			} `yaml:"env"`
			VolumeMounts []struct {
				Name      string `yaml:"name"`
				MountPath string `yaml:"mountPath"`
			} `yaml:"volumeMounts"`
			ReadinessProbe probe `yaml:"readinessProbe"`
			LivenessProbe  probe `yaml:"livenessProbe"`
			Resources      struct {
				Requests map[string]string `yaml:"requests"`
				Limits   map[string]string `yaml:"limits"`
			} `yaml:"resources"`
		} `yaml:"containers"`
	} `yaml:"spec"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

func readManifests(t *testing.T, path string) map[string]manifest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]manifest{}
	dec := yaml.NewDecoder(f)
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var m manifest
		if err := node.Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
			t.Fatalf("%s: an object without apiVersion, kind or name: %+v", path, m)
		}
		out[m.Kind] = m
	}
	return out
}

// memMiB reads a Kubernetes memory quantity in Mi or Gi.
func memMiB(t *testing.T, q string) int {
	t.Helper()
	var n int
	switch {
	case strings.HasSuffix(q, "Mi"):
		n = atoi(t, strings.TrimSuffix(q, "Mi"))
	case strings.HasSuffix(q, "Gi"):
		n = atoi(t, strings.TrimSuffix(q, "Gi")) * 1024
	default:
		t.Fatalf("memory quantity %q: write it in Mi or Gi", q)
	}
	return n
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a whole number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// measured: about 20 MB resident idle and at most 4.9 KB per call online
// (docs/performance.md). A request must hold 10 000 calls online.
const (
	idleMiB       = 20
	perCallBytes  = 4900
	callsSized    = 10000
	minRequestMiB = idleMiB + perCallBytes*callsSized/(1<<20) + 1
	stopSeconds   = 10 // the bridge exits within 10 s of SIGTERM
)

// checkPod checks what every bridge pod needs: probes on /readyz and /healthz at the http
// port, resources from the measured figures, time to drain, variables the bridge reads.
func checkPod(t *testing.T, kind string, pod podTemplate, vars map[string]bool) map[string]string {
	t.Helper()
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers; want the bridge alone", kind, len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("%s: ports %+v; want http on 8080", kind, c.Ports)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port != "http" {
		t.Errorf("%s: readiness probe %+v; want GET /readyz on http", kind, c.ReadinessProbe)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port != "http" {
		t.Errorf("%s: liveness probe %+v; want GET /healthz on http", kind, c.LivenessProbe)
	}
	if pod.Spec.TerminationGracePeriodSeconds <= stopSeconds {
		t.Errorf("%s: terminationGracePeriodSeconds %d; the bridge may take %d s to drain", kind, pod.Spec.TerminationGracePeriodSeconds, stopSeconds)
	}
	req, lim := c.Resources.Requests["memory"], c.Resources.Limits["memory"]
	if req == "" || lim == "" || c.Resources.Requests["cpu"] == "" {
		t.Fatalf("%s: resources %+v; want cpu and memory requests and a memory limit", kind, c.Resources)
	}
	if r, l := memMiB(t, req), memMiB(t, lim); r < minRequestMiB || l < r {
		t.Errorf("%s: memory request %s, limit %s; want a request of %d Mi at least (%d calls online) and a limit above it", kind, req, lim, minRequestMiB, callsSized)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if !vars[e.Name] {
			t.Errorf("%s: env %s is not a variable the bridge reads", kind, e.Name)
		}
		env[e.Name] = e.Value
	}
	return env
}

func sameLabels(a, b map[string]string) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetesRedis: the Deployment runs several instances on Redis, waiting for a replica
// on each change, with a PodDisruptionBudget over its pods.
func TestKubernetesRedis(t *testing.T) {
	ms := readManifests(t, "kubernetes/redis-deployment.yaml")
	d, ok := ms["Deployment"]
	if !ok {
		t.Fatal("no Deployment")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas %v; want several", d.Spec.Replicas)
	}
	if !sameLabels(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not select the pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	env := checkPod(t, "Deployment", d.Spec.Template, knownVars(t))
	if env["DIALIN_STORE"] != "redis" || env["DIALIN_REDIS_MIN_REPLICAS"] != "1" {
		t.Errorf("env %v; want DIALIN_STORE=redis and DIALIN_REDIS_MIN_REPLICAS=1", env)
	}
	pdb, ok := ms["PodDisruptionBudget"]
	if !ok {
		t.Fatal("no PodDisruptionBudget")
	}
	if pdb.APIVersion != "policy/v1" || !sameLabels(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget %s selects %v; want policy/v1 over the Deployment's pods", pdb.APIVersion, pdb.Spec.Selector.MatchLabels)
	}
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable < 1 || *pdb.Spec.MinAvailable >= *d.Spec.Replicas {
		t.Errorf("minAvailable %v of %d replicas: a drain must be able to take one and leave one", pdb.Spec.MinAvailable, *d.Spec.Replicas)
	}
	if _, ok := ms["Service"]; !ok {
		t.Error("no Service")
	}
}

// TestKubernetesBolt: the StatefulSet runs one instance with its bolt file on a volume of
// its own.
func TestKubernetesBolt(t *testing.T) {
	ms := readManifests(t, "kubernetes/bolt-statefulset.yaml")
	s, ok := ms["StatefulSet"]
	if !ok {
		t.Fatal("no StatefulSet")
	}
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
		t.Errorf("replicas %v; the bolt store is one instance's", s.Spec.Replicas)
	}
	env := checkPod(t, "StatefulSet", s.Spec.Template, knownVars(t))
	if env["DIALIN_STORE"] != "bolt" || env["DIALIN_DATA_DIR"] == "" {
		t.Fatalf("env %v; want DIALIN_STORE=bolt and DIALIN_DATA_DIR", env)
	}
	if len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"] == "" {
		t.Fatalf("volumeClaimTemplates %+v; want one with a storage request", s.Spec.VolumeClaimTemplates)
	}
	claim := s.Spec.VolumeClaimTemplates[0].Metadata.Name
	mounted := false
	for _, m := range s.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == claim && m.MountPath == env["DIALIN_DATA_DIR"] {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the claim %q is not mounted at DIALIN_DATA_DIR %q", claim, env["DIALIN_DATA_DIR"])
	}
}
