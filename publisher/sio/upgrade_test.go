package sio

import (
	"strings"
	"testing"
)

// TestPollingPostWhileUpgrading: socket.io-client 2.x sends what it has buffered over
// polling until its polling transport has paused, which is after the server answered the
// probe and paused its own. Such a POST is taken, not refused with "payload: paused", and its
// packets are read before anything the websocket brings after the upgrade; the session
// survives and answers over the websocket.
func TestPollingPostWhileUpgrading(t *testing.T) {
	ts := newServer(t, Options{})
	for round := range 20 {
		p, _ := pollOpen(t, ts.URL)
		if code, _ := p.post("40/chat?token=good"); code != 200 {
			t.Fatalf("CONNECT: %d", code)
		}
		if !p.until("40/chat,") {
			t.Fatal("no CONNECT ack")
		}
		// A long poll is pending when the probe comes; the server's pause releases it.
		polled := make(chan string, 1)
		go func() {
			_, body, _ := p.do("GET", "", "")
			polled <- body
		}()
		ws, _, err := wsDial(t, ts.URL, "&sid="+p.sid, nil)
		if err != nil {
			t.Fatal(err)
		}
		wsSend(t, ws, "2probe")
		if m := wsRead(t, ws); m != "3probe" {
			t.Fatalf("probe answered %q", m)
		}
		if body := <-polled; !strings.Contains(body, "6") {
			t.Fatalf("the pending poll got %q; want a noop", body)
		}
		// The polling connection is paused now.
		if code, body := p.post(`42/chat,1["SHOUT","a"]`, `42/chat,2["SHOUT","b"]`); code != 200 || body != "ok" {
			t.Fatalf("round %d: a POST while upgrading got %d %q; want 200 ok", round, code, body)
		}
		wsSend(t, ws, "5")
		wsSend(t, ws, `42/chat,3["SHOUT","c"]`)
		var got []string
		for len(got) < 6 {
			// The root namespace's CONNECT ack ("40") is sent by go-socket.io on a
			// goroutine of its own; when it was not polled before the upgrade it comes
			// over the websocket, in any place. It is not part of what is checked.
			if m := wsRead(t, ws); m != "40" {
				got = append(got, m)
			}
		}
		want := []string{`42/chat,["HEARD","a"]`, `43/chat,1["a"]`, `42/chat,["HEARD","b"]`, `43/chat,2["b"]`, `42/chat,["HEARD","c"]`, `43/chat,3["c"]`}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("round %d: after the upgrade the client got %q; want %q", round, got, want)
		}
		ws.Close()
	}
}

// TestExpel: an expelled client is told why (ERROR, then DISCONNECT of the namespace), is
// sent nothing more of the namespace, and may connect again.
func TestExpel(t *testing.T) {
	ts := newServer(t, Options{})
	conn := wsOpen(t, ts.URL)
	wsSend(t, conn, "40/chat?token=good")
	if m := wsRead(t, conn); m != "40/chat," {
		t.Fatalf("CONNECT answered %q", m)
	}
	var sc *Conn
	waitFor(t, "the connection", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		for _, c := range ts.conns {
			sc = c
		}
		return sc != nil
	})
	sc.Expel("token expired")
	sc.Send(EventPacket("/chat", "LATE", []byte(`1`)))
	wsSend(t, conn, `42/chat,1["SHOUT","ignored"]`)
	if m := wsRead(t, conn); m != `44/chat,"token expired"` {
		t.Fatalf("expelled client got %q; want the ERROR", m)
	}
	if m := wsRead(t, conn); m != `41/chat,` {
		t.Fatalf("expelled client got %q; want the DISCONNECT", m)
	}
	if ts.h.disconnects != 1 {
		t.Errorf("%d disconnects heard; want 1", ts.h.disconnects)
	}
	wsSend(t, conn, "40/chat?token=good")
	if m := wsRead(t, conn); m != "40/chat," {
		t.Fatalf("CONNECT after the expulsion answered %q (something was sent meanwhile?)", m)
	}
}
