package e2e

import (
	"fmt"
	"io"
	"net/http"
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
	debug := freeAddr(t)
	env["DIALIN_DEBUG_ADDR"] = debug // to collect garbage before measuring (pprof's heap?gc=1)
	b := startBinary(t, env, plainBinary(t))
	// settled is the resident memory once the garbage of what was just done is collected and
	// the runtime has had a few seconds to give freed pages back: the least of a few samples.
	settled := func() int {
		least := 0
		for i := range 6 {
			if resp, err := http.Get("http://" + debug + "/debug/pprof/heap?gc=1"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			time.Sleep(500 * time.Millisecond)
			if n := rssKiB(t, b.cmd.Process.Pid); i == 0 || n < least {
				least = n
			}
		}
		return least
	}
	tok := token("many", "member", "*")
	for i := range 20 { // warm up: pools, maps and the runtime's first arenas
		capped(t, b, tok, fmt.Sprintf("warm%d", i))
	}
	before := settled()
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
	per := float64(settled()-before) / n
	t.Logf("%.1f KiB of resident memory per connection at the caps", per)
	if per >= 64 {
		t.Errorf("%.1f KiB per connection at the caps; want under 64", per)
	}
}
