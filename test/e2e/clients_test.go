package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startNode runs `node ARGS…` in test/e2e, and decodes each JSON line it prints into a T on
// the returned channel, closed when it exits. When the test ends its stdin is closed; unless
// it exits within grace, its process group (chromium's processes too) is killed.
func startNode[T any](t testing.TB, stderr io.Writer, grace time.Duration, args ...string) (*exec.Cmd, io.WriteCloser, chan T) {
	t.Helper()
	cmd := exec.Command("node", args...)
	cmd.Dir = testDir()
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := make(chan T, 4096)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var v T
			if json.Unmarshal(sc.Bytes(), &v) == nil {
				out <- v
			}
		}
		close(out)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return cmd, stdin, out
}

// clientVersions are the socket.io-client 2.x releases the bridge is tested with, side by side:
// the npm package each is installed as (package.json aliases) and the version it must be.
var clientVersions = []struct{ module, version string }{
	{"socket.io-client-204", "socket.io-client@2.0.4"},
	{"socket.io-client", "socket.io-client@2.5.0"},
}

// clientName reads the first line a room client prints: the package and version it loaded.
func (c *client) clientName() string {
	c.t.Helper()
	m, ok := c.next(eventWait)
	if !ok || m.Type != "client" {
		c.t.Fatalf("room client did not say which socket.io-client it loaded: %+v", m)
	}
	return m.Name
}

// waitTransport waits until the client's connection is on transport.
func (c *client) waitTransport(want string) {
	c.t.Helper()
	got := ""
	for deadline := time.Now().Add(eventWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = c.transport(); got == want {
			return
		}
	}
	c.t.Fatalf("connection on %q; want %q", got, want)
}

// TestClientVersions: the oldest and the newest socket.io-client 2.x, each on websocket only
// on polling only, and polling upgraded to websocket, all connect, subscribe, and see a phone
// party arrive and leave, on one bridge at once.
func TestClientVersions(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	type room struct {
		name      string
		c         *client
		transport string
	}
	var rooms []room
	for _, v := range clientVersions {
		for _, transport := range []string{"websocket", "polling", "upgrade"} {
			c := connectWith(t, b, v.module, token("user-"+v.module+"-"+transport, "member", topicA), transport)
			if got := c.clientName(); got != v.version {
				t.Fatalf("%s loaded %s; want %s", v.module, got, v.version)
			}
			rooms = append(rooms, room{v.version + "/" + transport, c, transport})
		}
	}
	for _, r := range rooms {
		r.c.connected()
		r.c.subscribe(topicA)
	}

	sid, conf := callSID(1), confSID(1)
	b.dialIn(sid, knownCaller, numA, conf, topicA, 1)
	for _, r := range rooms {
		p := r.c.nextPresence()
		checkPhone(t, p, online, topicA, sid, joined)
		if p.Sender.DisplayName != "John Smith" {
			t.Errorf("%s: caller shown as %q; want John Smith", r.name, p.Sender.DisplayName)
		}
	}
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 2, sid), 204)
	for _, r := range rooms {
		checkPhone(t, r.c.nextPresence(), leaves, topicA, sid, gone)
		want := r.transport
		if want == "upgrade" {
			want = "websocket"
		}
		if got := r.c.transport(); got != want {
			t.Errorf("%s: connection on %s", r.name, got)
		}
		r.c.expectNothing(quiet / 4)
	}
}
