package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rssKiB is the resident memory of process pid, from /proc.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestStalledPollingBodies: 300 connections POST a 1 MiB polling body, without a token and
// naming made-up sessions, send all but its last byte and stall; 300 more do the same on
// sessions they opened but never joined to /chat. Every one is answered (400, 413) and its
// connection cut at once, without the body being read, and the bridge's memory stays put.
func TestStalledPollingBodies(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	before := rssKiB(t, b.cmd.Process.Pid)
	addr := strings.TrimPrefix(b.URL, "http://")
	type result struct {
		status int
		cut    bool
		err    error
	}
	results := make(chan result, 600)
	var wg sync.WaitGroup
	for i := range 600 {
		sid := fmt.Sprintf("madeup%d", i)
		if i >= 300 {
			u := openPolling(t, b).url
			sid = u[strings.LastIndex(u, "sid=")+4:]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /socket.io/?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n", sid, 1<<20)
			go conn.Write(bytes.Repeat([]byte("x"), 1<<20-1)) // fails once the bridge cuts it
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			_, err = br.ReadByte()
			results <- result{status: resp.StatusCode, cut: err != nil && !os.IsTimeout(err)}
		}()
	}
	wg.Wait()
	close(results)
	counts := map[string]int{}
	for r := range results {
		switch {
		case r.err != nil:
			counts["no answer: "+r.err.Error()]++
		case !r.cut:
			counts[fmt.Sprintf("%d, not cut", r.status)]++
		default:
			counts[strconv.Itoa(r.status)]++
		}
	}
	if counts["400"] != 300 || counts["413"] != 300 {
		t.Errorf("answers: %v; want 300 × 400 (made-up sessions) and 300 × 413 (not joined), each connection cut", counts)
	}
	// Before the fix, 300 such bodies took the (race-instrumented) process from tens of MB to
	// well over a gigabyte; 600 refusals cost a few MB.
	if grew := rssKiB(t, b.cmd.Process.Pid) - before; grew > 64<<10 {
		t.Errorf("resident memory grew by %d KiB", grew)
	}
}

// TestUpgradeBurst: 150 room clients with socket.io-client 2.x's default transports (polling,
// then upgraded to websocket, as browsers connect) subscribe at connect and announce
// themselves 0–100 ms later, five times over: every client of every round is complete (both
// acknowledged as accepted, no error, no disconnect), and ends on a websocket.
func TestUpgradeBurst(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	tok := token("burst", "member", topicA)
	for round := range 5 {
		_, _, out := startNode[struct {
			Complete int      `json:"complete"`
			Upgraded int      `json:"upgraded"`
			Failures []string `json:"failures"`
		}](t, os.Stderr, 3*time.Second, filepath.Join(testDir(), "upgradeburst.js"), b.URL, topicA, "150", tok)
		select {
		case r, ok := <-out:
			if !ok {
				t.Fatalf("round %d: upgradeburst.js exited without a report", round)
			}
			if r.Complete != 150 || r.Upgraded != 150 {
				t.Errorf("round %d: %d of 150 clients complete, %d upgraded; failures: %v", round, r.Complete, r.Upgraded, r.Failures)
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("round %d: no report within 90 s", round)
		}
	}
}

// TestShutdownAfterUnacceptedHandshake: a polling handshake sent as a POST (which go-socket.io
// would begin a session for and never hand over), and websocket handshakes dropped at once,
// leave shutdown prompt: with nothing in flight, SIGTERM exits 0 within a second.
func TestShutdownAfterUnacceptedHandshake(t *testing.T) {
	t.Parallel()
	env := prodEnv(t, nil)
	// The race detector sleeps a second at exit by default; that is not the bridge's time.
	env["GORACE"] = "halt_on_error=1 atexit_sleep_ms=0"
	b := startBridge(t, env)
	resp, err := http.Post(b.URL+"/socket.io/?EIO=3&transport=polling", "text/plain;charset=UTF-8", strings.NewReader("1:6"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a POST handshake: %d; want 400", resp.StatusCode)
	}
	openPolling(t, b) // a session that never joins /chat
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	code := b.stop(syscall.SIGTERM)
	if d := time.Since(start); d > time.Second {
		t.Errorf("SIGTERM took %v to exit; want under 1 s", d)
	}
	if code != 0 {
		t.Errorf("exit code %d; want 0", code)
	}
	if strings.Contains(b.Logs(), "still opening") {
		t.Errorf("shutdown left the socket.io engine open:\n%s", grepLines(b.Logs(), "opening"))
	}
}
