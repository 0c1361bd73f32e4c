package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// plainBinary builds the bridge without the race detector, whose shadow memory would
// multiply what a memory test measures.
func plainBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dialin-bridge")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dialin-bridge")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// capped opens a websocket room client of token tok and subscribes it to 256 topics of 128
// characters, named by prefix: a connection at every cap. It returns the connection.
func capped(t *testing.T, b *bridge, tok, prefix string) *websocket.Conn {
	t.Helper()
	fail := func(format string, args ...any) *websocket.Conn {
		t.Errorf(format, args...)
		return nil
	}
	u := "ws" + strings.TrimPrefix(b.URL, "http") + "/socket.io/?EIO=3&transport=websocket&tokenType=jwt&token=" + tok
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		return fail("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	read := func() string {
		_, m, err := conn.ReadMessage()
		if err != nil {
			return "read: " + err.Error()
		}
		return string(m)
	}
	read() // handshake
	read() // root CONNECT
	conn.WriteMessage(websocket.TextMessage, []byte("40/chat"))
	if m := read(); m != "40/chat," {
		return fail("CONNECT answered %q", m)
	}
	for i := range 256 {
		topic := fmt.Sprintf("%s-%03d-", prefix, i)
		topic += strings.Repeat("x", 128-len(topic))
		conn.WriteMessage(websocket.TextMessage, []byte(`42/chat,["SUBSCRIBE_CHANNEL",{"channel":{"_id":"`+topic+`","type":"topic"}}]`))
	}
	for range 256 {
		if m := read(); !strings.Contains(m, "CHANNEL_SUBSCRIBED") {
			return fail("subscribe answered %q", m)
		}
	}
	return conn
}

// TestMemoryPerCappedConnection: a connection at every cap (256 subscriptions of
// 128-character topics, each its own) grows the bridge's resident memory by less than
// 64 KiB.
func TestMemoryPerCappedConnection(t *testing.T) {
	t.Parallel()
	env := prodEnv(t, nil)
	env["DIALIN_PING_INTERVAL"] = "1m" // the raw clients below do not ping
	b := startBinary(t, env, plainBinary(t))
	tok := token("many", "member", "*")
	for i := range 20 { // warm up: pools, maps and the runtime's first arenas
		capped(t, b, tok, fmt.Sprintf("warm%d", i))
	}
	time.Sleep(time.Second)
	before := rssKiB(t, b.cmd.Process.Pid)
	const n = 300
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				capped(t, b, tok, fmt.Sprintf("c%d", i))
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	time.Sleep(time.Second)
	per := float64(rssKiB(t, b.cmd.Process.Pid)-before) / n
	t.Logf("%.1f KiB of resident memory per connection at the caps", per)
	if per >= 64 {
		t.Errorf("%.1f KiB per connection at the caps; want under 64", per)
	}
}
