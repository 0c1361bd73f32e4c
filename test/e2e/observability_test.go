package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promqlExprs returns every PromQL expression of the Grafana dashboard (panel targets and
// the template variables' label_values queries) and of the alerting rules, by where it is.
func promqlExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "grafana", "dialin-bridge.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name, Type string
				Query      json.RawMessage
				Definition string
			}
		}
		Panels []struct {
			Title      string
			Type       string
			Datasource *struct{ UID string }
			Targets    []struct {
				Expr       string
				Datasource struct{ UID string }
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if dash.SchemaVersion < 36 {
		t.Errorf("dashboard schemaVersion %d; Grafana 10 writes 38 or later", dash.SchemaVersion)
	}
	hasDS := false
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range dash.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" {
			hasDS = true
		}
		if v.Definition != "" {
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, v.Definition)
				continue
			}
			out["variable "+v.Name] = m[1]
		}
	}
	if !hasDS {
		t.Error("the dashboard has no datasource variable")
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %d does not use the datasource variable", p.Title, i)
			}
			out["panel "+p.Title+" "+string(rune('A'+i))] = tg.Expr
		}
	}

	raw, err = os.ReadFile(filepath.Join(repoRoot(), "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a summary or a description", r.Alert)
			}
			out["alert "+r.Alert] = r.Expr
		}
	}
	return out
}

// grafanaVars are the dashboard's variables and Grafana's own, as Prometheus would get them.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m", "$instance", ".*")

// checkParses has promtool parse every expression, as recording rules of a temporary file.
func checkParses(t *testing.T, exprs map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Fatal("promtool is not installed (scripts/test.sh installs Debian's prometheus package)")
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rs []rule
	keys := sortedKeys(exprs)
	for i, k := range keys {
		rs = append(rs, rule{Record: "dialin_check:expr_" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Expr: grafanaVars.Replace(exprs[k])})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "every-expression", "rules": rs}}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "exprs.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, b)
	}
}

var (
	strLit    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	braces    = regexp.MustCompile(`\{[^}]*\}`)
	brackets  = regexp.MustCompile(`\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	notMetric = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true}
)

// metricNames returns the metric names an expression reads: identifiers that are not
// functions, aggregations, keywords, label names or values, or durations.
func metricNames(expr string) []string {
	e := grafanaVars.Replace(expr)
	e = strLit.ReplaceAllString(e, " ")
	e = braces.ReplaceAllString(e, " ")
	e = brackets.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	var out []string
	for _, m := range ident.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") || notMetric[strings.ToLower(m)] {
			continue // a function or an aggregation
		}
		out = append(out, m)
	}
	return out
}

// exported returns the series names a bridge's /metrics holds.
func exported(t *testing.T, b *bridge) map[string]bool {
	t.Helper()
	r := b.get("/metrics", "")
	if r.Status != 200 {
		t.Fatalf("/metrics: %d", r.Status)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(r.Body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		out[name] = true
	}
	return out
}

// exercise makes a bridge use what its metrics count: a dial-in, a forged webhook, a
// refused API request.
func exercise(t *testing.T, b *bridge, twilio *fakeTwilio) {
	t.Helper()
	twilio.setLive(confSID(1), topicA, callSID(1))
	b.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	if r := b.postWith("/twilio/voice", url.Values{"CallSid": {callSID(2)}}, "forged"); r.Status != 403 {
		t.Errorf("forged webhook: %d", r.Status)
	}
	if r := b.get("/api/topics/"+topicA+"/parties", "not-a-token"); r.Status != 401 {
		t.Errorf("API with a bad token: %d", r.Status)
	}
}

// TestDashboardAndAlertMetrics: every PromQL expression of the Grafana dashboard and of the
// alerting rules parses (promtool), and every metric it reads is one a running bridge
// exports: in bolt, Redis and platform mode alike, but platform mode's own metrics, which
// only platform mode exports. `up` is Prometheus's own series for a scrape target.
func TestDashboardAndAlertMetrics(t *testing.T) {
	t.Parallel()
	exprs := promqlExprs(t)
	checkParses(t, exprs)

	twilio := newFakeTwilio(t)
	bolt := prodEnv(t, twilio)
	rs := startRedis(t)
	redisMode := redisEnv(t, twilio, rs)
	platform := platformEnv(t, twilio, startEphemeralRedis(t))
	modes := map[string]map[string]bool{}
	for name, env := range map[string]map[string]string{"bolt": bolt, "redis": redisMode, "platform": platform} {
		b := startBridge(t, env)
		waitReady(t, b, 200)
		exercise(t, b, twilio)
		modes[name] = exported(t, b)
	}
	used := 0
	for _, where := range sortedKeys(exprs) {
		names := metricNames(exprs[where])
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", where, exprs[where])
		}
		for _, n := range names {
			used++
			if n == "up" && strings.HasPrefix(where, "alert ") {
				continue
			}
			for mode, have := range modes {
				if strings.HasPrefix(n, "dialin_platform_") && mode != "platform" {
					continue
				}
				if !have[n] {
					t.Errorf("%s reads %s, which a bridge in %s mode does not export", where, n, mode)
				}
			}
		}
	}
	if used < 30 {
		t.Errorf("only %d metric uses found: the extraction is broken", used)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
