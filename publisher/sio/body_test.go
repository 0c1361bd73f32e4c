package sio

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawPost sends a polling POST's headers claiming length bytes, then the first sent bytes of
// the body, and leaves the rest unsent. It returns the connection, to read the answer from.
func rawPost(t *testing.T, base, sid string, length, sent int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /?EIO=3&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n", sid, length)
	conn.Write(bytes.Repeat([]byte("x"), sent))
	return conn
}

// answer reads the status of the answer on conn within wait, and whether the server then
// closed the connection.
func answer(t *testing.T, conn net.Conn, wait time.Duration) (status int, closed bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", wait, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.StatusCode, err == io.EOF
}

// TestPollingBodyBeforeRead: a polling POST naming no open session is refused at once, before
// its body is read, and its connection is closed; a session that has not joined the
// namespace may send 16 KiB, one that has joined 1 MiB; a body that does not arrive whole
// within the body timeout gets 408 and its connection is closed.
func TestPollingBodyBeforeRead(t *testing.T) {
	ts := newServer(t, Options{BodyTimeout: 500 * time.Millisecond})

	start := time.Now()
	conn := rawPost(t, ts.URL, "madeup1", 1<<20, 1<<20-1)
	if code, closed := answer(t, conn, 2*time.Second); code != http.StatusBadRequest || !closed {
		t.Errorf("made-up sid, stalled 1 MiB body: %d, closed %v; want 400, closed", code, closed)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("made-up sid answered after %v; want at once", d)
	}
	conn = rawPost(t, ts.URL, "madeup2", 100<<10, 10) // under net/http's 256 KiB it would drain
	if code, closed := answer(t, conn, 400*time.Millisecond); code != http.StatusBadRequest || !closed {
		t.Errorf("made-up sid, stalled 100 KiB body: %d, closed %v; want 400, closed", code, closed)
	}

	p, _ := pollOpen(t, ts.URL)
	conn = rawPost(t, ts.URL, p.sid, 16<<10+1, 10)
	if code, closed := answer(t, conn, 400*time.Millisecond); code != http.StatusRequestEntityTooLarge || !closed {
		t.Errorf("not joined, 16 KiB + 1 declared: %d, closed %v; want 413, closed", code, closed)
	}
	if code, _ := p.post(`42/chat,["SHOUT","` + strings.Repeat("a", 17<<10) + `"]`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("not joined, a 17 KiB payload: %d; want 413", code)
	}
	start = time.Now()
	conn = rawPost(t, ts.URL, p.sid, 1000, 999)
	if code, closed := answer(t, conn, 2*time.Second); code != http.StatusRequestTimeout || !closed {
		t.Errorf("stalled body: %d, closed %v; want 408, closed", code, closed)
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("stalled body cut after %v; want the body timeout", d)
	}

	if code, _ := p.post("40/chat?token=good"); code != 200 {
		t.Fatalf("CONNECT: %d", code)
	}
	if !p.until("40/chat,") {
		t.Fatal("no CONNECT ack")
	}
	big := strings.Repeat("a", 500<<10)
	if code, body := p.post(`42/chat,["SHOUT","` + big + `"]`); code != 200 {
		t.Errorf("joined, a 500 KiB payload: %d %s; want 200", code, body)
	}
	if !p.until(big) {
		t.Error("the 500 KiB event was not answered")
	}
	for _, r := range []string{"session", "size", "body_timeout"} {
		if ts.obs.refusals(r) == 0 {
			t.Errorf("no %q refusal counted", r)
		}
	}
}

// TestCloseAfterUnacceptedHandshake: a polling handshake that is not a GET (the engine would
// begin a session whose handshake answer it can never deliver), and a websocket handshake
// whose client is gone before its answer is written, leave Close prompt and complete: it
// closes the engine and its accept loop.
func TestCloseAfterUnacceptedHandshake(t *testing.T) {
	var logs bytes.Buffer
	ts := newServer(t, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	p := &poll{t: t, base: ts.URL, header: http.Header{}}
	if code, body := p.post("40/chat?token=good"); code != http.StatusBadRequest {
		t.Errorf("a POST handshake: %d %q; want 400", code, body)
	}
	for range 20 {
		conn, _, err := wsDial(t, ts.URL, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		conn.UnderlyingConn().(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
	pollOpen(t, ts.URL)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	ts.Close()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Close took %v", d)
	}
	if strings.Contains(logs.String(), "leaving the engine open") {
		t.Errorf("Close left the engine open:\n%s", logs.String())
	}
	if _, err := ts.engine.Accept(); err != io.EOF {
		t.Errorf("the engine still accepts after Close: %v", err)
	}
}
