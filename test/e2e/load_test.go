package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"
)

// loadReport is the part of the load tool's JSON report these tests read.
type loadReport struct {
	Expected  int     `json:"events_expected"`
	Delivered int     `json:"events_delivered"`
	Lost      int     `json:"events_lost"`
	Dups      int     `json:"events_duplicated"`
	Errors    int64   `json:"webhook_errors"`
	CPU       float64 `json:"bridge_cpu_us_per_dialin"`
}

// runLoadTool runs the load tool (bench/) with args and returns its report. It fails the
// test if the tool fails; with -fail-on-loss that includes any lost event.
func runLoadTool(t *testing.T, args ...string) loadReport {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", "./bench"}, args...)...)
	cmd.Dir = repoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("load tool: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var rep loadReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	return rep
}

// TestLoadToolShort runs the load tool in its short mode against a bridge: a few hundred
// dial-ins with real socket.io-client subscribers. It fails only if events are lost, never
// on timing.
func TestLoadToolShort(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	rep := runLoadTool(t, "-url", b.URL, "-auth-token", authToken, "-jwt-secret", jwtSecret,
		"-topic", topicA, "-calls", "300", "-concurrency", "16", "-subscribers", "5", "-fail-on-loss")
	if rep.Expected != 300*2*5 || rep.Delivered != rep.Expected || rep.Lost != 0 || rep.Dups != 0 || rep.Errors != 0 {
		t.Errorf("report %+v; want all %d events delivered once, no webhook errors", rep, 300*2*5)
	}
}

// TestLoadToolFloor runs the load tool, paced, against bench/floor, the server the bridge's
// CPU per dial-in is read against. Every event must reach every real socket.io-client
// subscriber exactly once, or the floor would be cheaper than the work it stands for, and
// the report must carry the floor's CPU per dial-in.
func TestLoadToolFloor(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "floor")
	build := exec.Command("go", "build", "-o", bin, "./bench/floor")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bench/floor: %v\n%s", err, out)
	}
	url := startListening(t, exec.Command(bin, "-addr", "127.0.0.1:0"), "floor listening on ")
	rep := runLoadTool(t, "-url", url, "-topic", "5a1339868509b80641a56655", "-calls", "200", "-rate", "100",
		"-concurrency", "8", "-subscribers", "5", "-fail-on-loss")
	if rep.Expected != 200*2*5 || rep.Delivered != rep.Expected || rep.Dups != 0 || rep.Errors != 0 {
		t.Errorf("report %+v; want all %d events delivered once, no webhook errors", rep, 200*2*5)
	}
	if rep.CPU <= 0 {
		t.Errorf("report %+v; want the floor's CPU per dial-in", rep)
	}
}

// TestLoadToolPeer runs the load tool, paced, against bench/peer, the Node peer on
// socket.io 2.x's own server. It does the work it stands for: a webhook without Twilio's
// signature is refused, and with signed webhooks and subscribers holding a token every event
// reaches every real socket.io-client subscriber exactly once.
func TestLoadToolPeer(t *testing.T) {
	t.Parallel()
	url := startListening(t, exec.Command("node", "bench/peer/peer.js", "-addr", "127.0.0.1:0",
		"-auth-token", authToken, "-jwt-secret", jwtSecret), "peer listening on ")
	resp, err := http.PostForm(url+"/twilio/voice", twiliotest.Voice(twiliotest.CallSID(1), twiliotest.From, "+15005550006"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned webhook: status %d, want 403", resp.StatusCode)
	}
	rep := runLoadTool(t, "-url", url, "-auth-token", authToken, "-jwt-secret", jwtSecret,
		"-topic", "5a1339868509b80641a56655", "-calls", "200", "-rate", "100",
		"-concurrency", "8", "-subscribers", "5", "-fail-on-loss")
	if rep.Expected != 200*2*5 || rep.Delivered != rep.Expected || rep.Dups != 0 || rep.Errors != 0 {
		t.Errorf("report %+v; want all %d events delivered once, no webhook errors", rep, 200*2*5)
	}
	if rep.CPU <= 0 {
		t.Errorf("report %+v; want the peer's CPU per dial-in", rep)
	}
}

// startListening starts a server that prints prefix and its base URL as its first line, and
// returns that URL; the server is killed when the test ends.
func startListening(t *testing.T, srv *exec.Cmd, prefix string) string {
	t.Helper()
	srv.Dir = repoRoot()
	srv.Stderr = os.Stderr // why it stopped, if it does
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
	if err != nil || !ok {
		t.Fatalf("first line %q (%v); want %q and the address", line, err, prefix)
	}
	return url
}
