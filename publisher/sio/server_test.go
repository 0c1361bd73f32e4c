package sio

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestWireConnectErrorAck: the exact frames socket.io 2.x clients rely on. A refused CONNECT
// gets a namespace ERROR and keeps the session, so the client can connect again; an accepted
// one is acknowledged with no payload; the token may come in the CONNECT's own query; an
// event with an id is acknowledged after the event that answers it.
func TestWireConnectErrorAck(t *testing.T) {
	ts := newServer(t, Options{})
	conn := wsOpen(t, ts.URL)
	wsSend(t, conn, "40/chat?token=bad")
	if m := wsRead(t, conn); m != `44/chat,"invalid token"` {
		t.Fatalf("refused CONNECT answered %q; want 44/chat,\"invalid token\"", m)
	}
	wsSend(t, conn, `42/chat,1["SHOUT",{"a":1}]`)                                      // not connected: ignored
	wsSend(t, conn, "40/chat?token=good&tokenType=jwt&pad="+strings.Repeat("x", 2000)) // a token is long
	if m := wsRead(t, conn); m != "40/chat," {
		t.Fatalf("CONNECT answered %q; want 40/chat,", m)
	}
	wsSend(t, conn, `42/chat,7["SHOUT",{"a":"Zoë"}]`)
	if m := wsRead(t, conn); m != `42/chat,["HEARD",{"a":"Zo\u00eb"}]` {
		t.Fatalf("event answered %q", m)
	}
	if m := wsRead(t, conn); m != `43/chat,7[{"a":"Zo\u00eb"}]` {
		t.Fatalf("acknowledgement %q; want 43/chat,7[{...}]", m)
	}
	wsSend(t, conn, `42/chat,8["OTHER"]`)
	if m := wsRead(t, conn); m != `43/chat,8[]` {
		t.Fatalf("acknowledgement of an event with no answer %q; want 43/chat,8[]", m)
	}
	wsSend(t, conn, "40/nope")
	if m := wsRead(t, conn); m != `44/nope,"Invalid namespace"` {
		t.Fatalf("CONNECT to another namespace answered %q", m)
	}
	if ts.h.connects != 1 {
		t.Errorf("%d connects; want 1", ts.h.connects)
	}
}

// TestTokenFromHandshake: without a token in the CONNECT, the handshake's query counts.
func TestTokenFromHandshake(t *testing.T) {
	ts := newServer(t, Options{})
	conn, _, err := wsDial(t, ts.URL, "&token=good", nil)
	if err != nil {
		t.Fatal(err)
	}
	wsRead(t, conn)
	wsRead(t, conn)
	wsSend(t, conn, "40/chat")
	if m := wsRead(t, conn); m != "40/chat," {
		t.Fatalf("CONNECT answered %q; want 40/chat,", m)
	}
}

// TestHostilePacketsWebsocket: packets whose header claims a huge number of binary
// attachments, and other packets no client sends, close the sender's connection and leave the
// server serving others.
func TestHostilePacketsWebsocket(t *testing.T) {
	ts := newServer(t, Options{})
	for _, msg := range []string{
		`451000000000000000-["x"]`,
		`411000000000000000-["x"]`,
		`461-/chat,0[{"_placeholder":true,"num":0}]`,
		`42/chat,["x"`,
		`49`,
		`4` + strings.Repeat("9", 40),
		`42/chat,99999999999999999999["x"]`,
	} {
		conn := wsOpen(t, ts.URL)
		wsSend(t, conn, "40/chat?token=good")
		wsRead(t, conn)
		wsSend(t, conn, msg)
		if !wsClosed(conn) {
			t.Errorf("%q: the connection stayed open", msg)
		}
	}
	if n := ts.obs.refusals("binary") + ts.obs.refusals("packet"); n != 7 {
		t.Errorf("%d refusals counted; want 7", n)
	}
	conn := wsOpen(t, ts.URL)
	wsSend(t, conn, "40/chat?token=good")
	if m := wsRead(t, conn); m != "40/chat," {
		t.Fatalf("a client after the hostile ones got %q", m)
	}
	waitFor(t, "the hostile sessions to close", func() bool { return ts.obs.open() == 1 })
}

// TestHostilePacketsPolling: the same packets over long-polling are refused with 400 before
// go-socket.io reads them, as are binary payload frames and oversized bodies of any type.
func TestHostilePacketsPolling(t *testing.T) {
	ts := newServer(t, Options{MaxMessage: 64 << 10})
	p, _ := pollOpen(t, ts.URL)
	for _, body := range []struct{ ctype, body string }{
		{"text/plain;charset=UTF-8", `24:451000000000000000-["x"]`},
		{"text/plain;charset=UTF-8", `24:411000000000000000-["x"]`},
		{"text/plain;charset=UTF-8", `99999999999999999999:4`},
		{"text/plain;charset=UTF-8", `3:b4AA`},
		{"text/plain;charset=UTF-8", `1:0`},
		{"application/octet-stream", "\x01\x03\xff\x04\x01\x02"},
		{"application/octet-stream", "\x00\x09\x09\x09\x09\x09\x09\x09\x09\x09\xff4"},
		{"application/octet-stream", "\x00\x01\xff"},
	} {
		code, msg, _ := p.do("POST", body.ctype, body.body)
		if code != http.StatusBadRequest {
			t.Errorf("%q: %d %s; want 400", body.body, code, msg)
		}
	}
	code, _, _ := p.do("POST", "application/octet-stream", strings.Repeat("x", 65<<10))
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized binary body got %d; want 413", code)
	}
	// The session still works: a CONNECT in the binary payload format, as python-socketio and
	// the Java client send it, is read.
	connect := "40/chat?token=good"
	frame := []byte{0}
	for _, d := range itoa(len(connect)) {
		frame = append(frame, byte(d-'0'))
	}
	frame = append(append(frame, 0xff), connect...)
	if code, msg, _ := p.do("POST", "application/octet-stream", string(frame)); code != 200 || msg != "ok" {
		t.Fatalf("binary-format CONNECT: %d %s", code, msg)
	}
	if !p.until(":40/chat,") {
		t.Fatal("no 40/chat, after a CONNECT in the binary format")
	}
	if n := ts.obs.refusals("binary") + ts.obs.refusals("packet") + ts.obs.refusals("size"); n != 9 {
		t.Errorf("%d refusals counted; want 9", n)
	}
}

// TestSessionIDs: session ids carry 128 random bits, and a session cannot be named by a
// guess: the counter ids go-socket.io would have given are refused.
func TestSessionIDs(t *testing.T) {
	ts := newServer(t, Options{})
	seen := map[string]bool{}
	for range 20 {
		p, _ := pollOpen(t, ts.URL)
		b, err := base64.RawURLEncoding.DecodeString(p.sid)
		if err != nil || len(b) < 16 {
			t.Fatalf("session id %q: not 128 bits (%v)", p.sid, err)
		}
		if seen[p.sid] {
			t.Fatalf("session id %q given twice", p.sid)
		}
		seen[p.sid] = true
	}
	// The takeover attempt: a tokenless websocket naming a guessed session.
	for _, sid := range []string{"1", "2", "20", "k"} {
		_, resp, err := wsDial(t, ts.URL, "&sid="+sid, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("websocket to sid %q: %v; want 400", sid, err)
		}
	}
}

// TestJoinTimeout: a session that never connects to the namespace with a valid token is
// closed after the join timeout; one that did stays open.
func TestJoinTimeout(t *testing.T) {
	ts := newServer(t, Options{JoinTimeout: 300 * time.Millisecond, PingTimeout: 10 * time.Second})
	idle := wsOpen(t, ts.URL)
	refused := wsOpen(t, ts.URL)
	wsSend(t, refused, "40/chat?token=bad")
	joined := wsOpen(t, ts.URL)
	wsSend(t, joined, "40/chat?token=good")
	wsRead(t, joined)
	if !wsClosed(idle) {
		t.Error("a session that never joined stayed open")
	}
	if !wsClosed(refused) {
		t.Error("a session whose token was refused stayed open")
	}
	joined.SetReadDeadline(time.Now().Add(time.Second))
	if _, _, err := joined.ReadMessage(); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("a joined session: %v; want it open", err)
	}
	if n := ts.obs.refusals("join_timeout"); n != 2 {
		t.Errorf("%d join timeouts counted; want 2", n)
	}
	waitFor(t, "the session gauge to drop", func() bool { return ts.obs.open() == 1 })
}

// TestClientTooFarBehind: a client whose unsent events pass the byte cap is disconnected.
func TestClientTooFarBehind(t *testing.T) {
	ts := newServer(t, Options{MaxQueue: 64 << 10})
	p, _ := pollOpen(t, ts.URL)
	p.post("40/chat?token=good")
	// Never poll again: each SHOUT queues a 4 KiB event that is never sent.
	big := `{"x":"` + strings.Repeat("a", 4<<10) + `"}`
	for range 20 {
		p.post(`42/chat,["SHOUT",` + big + `]`)
	}
	waitFor(t, "the stalled client to be dropped", func() bool { return ts.obs.refusals("queue") == 1 && ts.obs.open() == 0 })
}

// TestOrigins: with a list, another origin's polling and websocket requests are refused
// with 403; allowed origins get CORS answers that browsers accept with credentials;
// clients without an Origin are not browsers and pass.
func TestOrigins(t *testing.T) {
	ts := newServer(t, Options{AllowedOrigins: []string{"https://app.example.com"}})
	p := &poll{t: t, base: ts.URL, header: http.Header{"Origin": {"https://evil.example.com"}}}
	if code, _, _ := p.do("GET", "", ""); code != http.StatusForbidden {
		t.Errorf("polling from another origin: %d; want 403", code)
	}
	if _, resp, err := wsDial(t, ts.URL, "", http.Header{"Origin": {"https://evil.example.com"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("websocket from another origin: %v; want 403", err)
	}
	p.header.Set("Origin", "https://app.example.com")
	code, _, h := p.do("OPTIONS", "", "")
	if code/100 != 2 || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight: %d %v", code, h)
	}
	code, _, h = p.do("GET", "", "")
	if code != 200 || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("polling handshake from an allowed origin: %d %v", code, h)
	}
	if _, _, err := wsDial(t, ts.URL, "", http.Header{"Origin": {"https://app.example.com"}}); err != nil {
		t.Errorf("websocket from an allowed origin: %v", err)
	}
	if _, _, err := wsDial(t, ts.URL, "", nil); err != nil {
		t.Errorf("websocket without an Origin: %v", err)
	}
	if ts.obs.refusals("origin") != 2 {
		t.Errorf("%d origin refusals counted; want 2", ts.obs.refusals("origin"))
	}

	any := newServer(t, Options{})
	p = &poll{t: t, base: any.URL, header: http.Header{"Origin": {"https://anywhere.example.org"}}}
	if code, _, h := p.do("GET", "", ""); code != 200 || h.Get("Access-Control-Allow-Origin") != "https://anywhere.example.org" {
		t.Errorf("any origin allowed by default: %d %v", code, h)
	}
	if _, _, err := wsDial(t, any.URL, "", http.Header{"Origin": {"https://anywhere.example.org"}}); err != nil {
		t.Errorf("websocket from another origin by default: %v", err)
	}
}

// TestJSONPRefused: JSONP polling, which hands a session's data to any page that names it,
// is refused.
func TestJSONPRefused(t *testing.T) {
	ts := newServer(t, Options{})
	req, _ := http.NewRequest("GET", ts.URL+"/?EIO=3&transport=polling&j=0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JSONP handshake: %d; want 400", resp.StatusCode)
	}
}

// TestRequestRightAfterHandshake: a polling client may send its next request the moment the
// handshake is answered, before go-socket.io's engine has registered the new session (it
// does so from a goroutine of its own, after answering). That request is served (held until
// the session is registered), not refused as an invalid sid.
func TestRequestRightAfterHandshake(t *testing.T) {
	ts := newServer(t, Options{})
	for i := range 300 {
		p, _ := pollOpen(t, ts.URL)
		if code, body := p.post("40/chat?token=good"); code != 200 {
			t.Fatalf("session %d: the first POST after the handshake got %d %q", i, code, body)
		}
		if !p.until("40/chat") {
			t.Fatalf("session %d: no CONNECT ack", i)
		}
	}
	// A session never handed out is refused at once, not held.
	stranger := &poll{t: t, base: ts.URL, sid: "AAAAAAAAAAAAAAAAAAAAAA", header: http.Header{}}
	start := time.Now()
	if code, _ := stranger.post("40/chat?token=good"); code != http.StatusBadRequest {
		t.Errorf("a made-up sid: %d; want 400", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a made-up sid was held %v", d)
	}
}
