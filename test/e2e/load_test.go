package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestLoadToolShort runs the load tool (bench/) in its short mode against a bridge: a few
// hundred dial-ins with real socket.io-client subscribers. It fails only if events are lost,
// never on timing.
func TestLoadToolShort(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	cmd := exec.Command("go", "run", "./bench", "-url", b.URL, "-auth-token", authToken, "-jwt-secret", jwtSecret,
		"-topic", topicA, "-calls", "300", "-concurrency", "16", "-subscribers", "5", "-fail-on-loss")
	cmd.Dir = repoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("load tool: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var rep struct {
		Expected  int   `json:"events_expected"`
		Delivered int   `json:"events_delivered"`
		Lost      int   `json:"events_lost"`
		Dups      int   `json:"events_duplicated"`
		Errors    int64 `json:"webhook_errors"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, out)
	}
	if rep.Expected != 300*2*5 || rep.Delivered != rep.Expected || rep.Lost != 0 || rep.Dups != 0 || rep.Errors != 0 {
		t.Errorf("report %+v; want all %d events delivered once, no webhook errors\n%s", rep, 300*2*5, out)
	}
	t.Logf("%s", out)
}
