package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
)

// TestTokenExpiresMidSession: an admin whose token expires while connected is told so
// (44/chat,"token expired", then 41/chat: its error and disconnect handlers fire), its
// leaves reaches the topic, and from then on it gets nothing of the topic and can do
// nothing: no event, no subscription, no removal, no relay.
func TestTokenExpiresMidSession(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	b := startBridge(t, prodEnv(t, twilio))
	watcher := subscriber(t, b, topicA, "websocket")
	exp := time.Now().Add(4 * time.Second)
	tok := jwttest.HS256(jwtSecret, map[string]any{"sub": "late", "name": "Late Admin", "role": "admin", "topics": []string{"*"}, "exp": exp.Unix()})
	admin := connect(t, b, tok, "websocket")
	admin.connected()
	admin.subscribe(topicA)
	admin.emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.party.online", topicA, webContent, ""))
	if p := watcher.nextPresence(); p.Sender.ID != "late" || p.Category != online {
		t.Fatalf("watcher got %s from %s; want late's online", p.Category, p.Sender.ID)
	}
	admin.nextPresence() // its own online
	twilio.setLive(confSID(1), topicA, callSID(1))
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, admin.nextPresence(), online, topicA, callSID(1), joined)
	checkPhone(t, watcher.nextPresence(), online, topicA, callSID(1), joined)

	var sawError, sawDisconnect bool
	deadline := time.After(time.Until(exp) + 3*time.Second)
	for !(sawError && sawDisconnect) {
		select {
		case m, ok := <-admin.msgs:
			if !ok {
				t.Fatal("the client ended")
			}
			switch {
			case m.Type == "error" && m.Error == "token expired":
				sawError = true
			case m.Type == "disconnect" && m.Reason == "io server disconnect":
				sawDisconnect = true
			case m.Type == "event":
				t.Fatalf("unexpected %s before the expiry: %s", m.Name, m.Data)
			}
		case <-deadline:
			t.Fatalf("at exp + 3 s: error seen %v, disconnect seen %v", sawError, sawDisconnect)
		}
	}
	if time.Now().Before(exp.Truncate(time.Second)) {
		t.Errorf("expelled before exp")
	}
	if p := watcher.nextPresence(); p.Sender.ID != "late" || p.Category != leaves {
		t.Fatalf("watcher got %s from %s; want late's leaves", p.Category, p.Sender.ID)
	}

	// The socket.io-client keeps its Engine.IO connection, as after a refused CONNECT; it
	// can do nothing more on /chat.
	b.dialIn(callSID(2), unknownCaller, numA, confSID(1), topicA, 2)
	checkPhone(t, watcher.nextPresence(), online, topicA, callSID(2), joined)
	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "too-late"))
	admin.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicB, "type": "topic"}})
	admin.emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.party.online", topicA, webContent, ""))
	admin.expectNothing(time.Second)
	watcher.expectNothing(quiet)
	if h := twilio.hungUp(); len(h) != 0 {
		t.Errorf("an expired token hung up %v", h)
	}
	if !strings.Contains(b.LogsWritten(), "socket token expired") {
		t.Errorf("the expiry was not logged")
	}
}

// TestRemovalFlood: an admin sends 2000 party.removed at once while Twilio takes 8 s to
// answer. For one call, Twilio is asked once; over ten calls, at most 4 hang-ups are in
// flight at once; every request beyond the 4 is refused with media.session.invalid, and the
// bridge serves on.
func TestRemovalFlood(t *testing.T) {
	t.Parallel()
	twilio, b, watcher, admin := removalWorld(t)
	for i := 1; i <= 10; i++ {
		twilio.setLive(confSID(1), topicA, callSID(i))
		b.dialIn(callSID(i), unknownCaller, numA, confSID(1), topicA, i)
		watcher.nextPresence()
		admin.nextPresence()
	}
	twilio.slow(8 * time.Second) // longer than the flood takes to be read: no place frees meanwhile
	updates := func() (n int) {
		for _, r := range twilio.requestLog() {
			if strings.HasPrefix(r, "POST ") && strings.Contains(r, "/Calls/") {
				n++
			}
		}
		return n
	}
	flood := func(sid func(i int) string) {
		t.Helper()
		for i := range 2000 {
			admin.emit("SEND_PRESENCE_EVENT", removal(topicA, sid(i), "flood"))
		}
		refused := 0
		deadline := time.After(30 * time.Second)
		for refused < 1996 {
			select {
			case m, ok := <-admin.msgs:
				if !ok {
					t.Fatal("the admin's client ended")
				}
				if m.Type == "event" && strings.Contains(string(m.Data), "at most 4 requests") {
					refused++
				}
			case <-deadline:
				t.Fatalf("%d of 2000 removals refused within 30 s; want 1996", refused)
			}
		}
	}
	drained := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			twilio.mu.Lock()
			n := twilio.updating
			twilio.mu.Unlock()
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d hang-ups still in flight", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	flood(func(int) string { return callSID(1) })
	if n := updates(); n != 1 {
		t.Errorf("2000 removals of one call asked Twilio %d times; want 1", n)
	}
	drained()
	flood(func(i int) string { return callSID(1 + i%10) })
	drained()
	twilio.mu.Lock()
	most := twilio.mostUpdating
	twilio.mu.Unlock()
	if most > 4 || most < 1 {
		t.Errorf("%d hang-ups in flight at once; want at most 4 (and some)", most)
	}
	twilio.slow(0)
	b.dialIn(callSID(20), unknownCaller, numA, confSID(1), topicA, 20)
	for p := watcher.nextPresence(); p.Sender.ID != callSID(20); p = watcher.nextPresence() {
	}
}
