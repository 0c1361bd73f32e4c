package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
)

func presenceReq(category, topic string, content any, loopback string) map[string]any {
	m := map[string]any{"category": category, "topicId": topic, "content": content}
	if loopback != "" {
		m["loopbackMetadata"] = loopback
	}
	return m
}

var webContent = map[string]any{
	"offline": false, "idle": false, "desktop": false, "role": "member", "sessionId": "web-session-1",
	"mediaSession": map[string]bool{"audio": true, "video": true, "connected": true, "screenshare": false, "selfMuted": false, "phone": false},
}

// expectInvalid asserts the next presence event is media.session.invalid echoing loopback.
func expectInvalid(t *testing.T, c *client, loopback string) presence {
	t.Helper()
	p := c.nextPresence()
	if p.Category != invalid {
		t.Fatalf("got %s; want %s\n%s", p.Category, invalid, p.Raw)
	}
	if loopback != "" && string(p.LoopbackMetadata) != `"`+loopback+`"` {
		t.Errorf("loopbackMetadata %s; want %q", p.LoopbackMetadata, loopback)
	}
	if p.Error == "" || strings.Contains(p.Error, "\n") {
		t.Errorf("error %q; want a one-line reason", p.Error)
	}
	return p
}

// TestReplayToLateJoiner: request.parties is answered to the requester alone with each phone
// party of its topic in its current state, and relayed to the topic.
func TestReplayToLateJoiner(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	early := subscriber(t, b, topicA, "websocket")
	conf := confSID(1)
	b.dialIn(callSID(1), knownCaller, numA, conf, topicA, 1)
	b.dialIn(callSID(2), unknownCaller, numA, conf, topicA, 2)
	b.dialIn(callSID(3), unknownCaller, numB, confSID(2), topicB, 1)
	b.mustPost("/twilio/conference", confForm("participant-mute", conf, topicA, 3, callSID(1)), 204)
	b.mustPost("/twilio/conference", confForm("participant-hold", conf, topicA, 4, callSID(2)), 204)
	for i := 0; i < 4; i++ {
		early.nextPresence()
	}
	// A party that left is not replayed.
	b.dialIn(callSID(4), unknownCaller, numA, conf, topicA, 5)
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 6, callSID(4)), 204)
	early.nextPresence()
	early.nextPresence()

	late := connect(t, b, token("late", "guest", topicA), "polling")
	late.connected()
	late.subscribe(topicA)
	late.emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.request.parties", topicA, map[string]any{"sessionId": "s1", "data": []any{}}, ""))

	got := map[string]presence{}
	for len(got) < 2 {
		p := late.nextPresence()
		if p.Category == "app.event.presence.request.parties" {
			continue // its own request, relayed to the topic
		}
		got[p.Sender.ID] = p
	}
	checkPhone(t, got[callSID(1)], online, topicA, callSID(1), muted)
	checkPhone(t, got[callSID(2)], online, topicA, callSID(2), onHold)
	if got[callSID(1)].Sender.DisplayName != "John Smith" {
		t.Errorf("replayed directory caller as %+v", got[callSID(1)].Sender)
	}
	late.expectNothing(quiet)

	// The topic sees the request (so web parties answer), but not the replay.
	p := early.nextPresence()
	if p.Category != "app.event.presence.request.parties" || p.Sender.ID != "late" || p.Sender.Type != "user" {
		t.Errorf("early subscriber got %s from %+v; want the relayed request from late", p.Category, p.Sender)
	}
	early.expectNothing(quiet)
}

// TestWebPresenceRelay: a web client's online is relayed with its sender stamped from the
// token, whatever it claims; when its connection drops, the topic gets its leaves.
func TestWebPresenceRelay(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	watcher := subscriber(t, b, topicA, "websocket")
	other := subscriber(t, b, topicB, "websocket")
	web := connect(t, b, token("ann", "member", topicA), "polling")
	web.connected()
	web.subscribe(topicA)

	forged := presenceReq("app.event.presence.party.online", topicA, webContent, "")
	forged["sender"] = map[string]any{"_id": "CAforged", "type": "phone", "displayname": "Not Ann"}
	// A name with characters outside ASCII travels intact over polling both ways.
	content := map[string]any{}
	for k, v := range webContent {
		content[k] = v
	}
	content["note"] = "Zoë • 日本"
	forged["content"] = content
	web.emit("SEND_PRESENCE_EVENT", forged)
	for _, c := range []*client{watcher, web} {
		p := c.nextPresence()
		if p.Category != online || p.Sender.ID != "ann" || p.Sender.Type != "user" || p.Sender.DisplayName != "User ann" {
			t.Errorf("relayed online %s from %+v; want sender stamped from the token (ann, user)", p.Category, p.Sender)
		}
		var raw struct {
			Content map[string]any `json:"content"`
		}
		json.Unmarshal(p.Raw, &raw)
		if raw.Content["note"] != "Zoë • 日本" || raw.Content["sessionId"] != "web-session-1" {
			t.Errorf("content not relayed intact: %v", raw.Content)
		}
	}
	other.expectNothing(quiet)

	// A client drops without a word (its process dies): the topic hears it left.
	carl := connect(t, b, token("carl", "member", topicA), "websocket")
	carl.connected()
	carl.subscribe(topicA)
	carl.emit("SEND_PRESENCE_EVENT", presenceReq(online, topicA, webContent, ""))
	if p := watcher.nextPresence(); p.Sender.ID != "carl" || p.Category != online {
		t.Fatalf("carl's online: %s from %+v", p.Category, p.Sender)
	}
	web.nextPresence()
	carl.cmd.Process.Kill()
	for _, c := range []*client{watcher, web} {
		p := c.nextPresence()
		if p.Category != leaves || p.Sender.ID != "carl" || p.Content.MediaSession.Connected {
			t.Errorf("after the drop: %s from %+v connected=%v; want leaves from carl, not connected", p.Category, p.Sender, p.Content.MediaSession.Connected)
		}
	}
	// A client that announced nothing leaves no trace when it drops.
	quietOne := subscriber(t, b, topicA, "websocket")
	quietOne.cmd.Process.Kill()
	watcher.expectNothing(quiet)
}

// TestRefusedRequests: each refusal answers the sender alone with media.session.invalid,
// echoing loopbackMetadata, and changes nothing; the connection keeps working.
func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	watcher := subscriber(t, b, topicA, "websocket")
	c := connect(t, b, token("bob", "member", topicA, topicB), "websocket")
	c.connected()
	c.subscribe(topicA)

	c.emit("SEND_PRESENCE_EVENT", presenceReq(online, topicB, webContent, "not-subscribed"))
	expectInvalid(t, c, "not-subscribed")
	c.emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.party.dance", topicA, webContent, "unknown-category"))
	expectInvalid(t, c, "unknown-category")
	c.emit("SEND_PRESENCE_EVENT", presenceReq(online, topicA, "not an object", "bad-content"))
	expectInvalid(t, c, "bad-content")
	c.emit("SEND_PRESENCE_EVENT", map[string]any{"category": 7, "topicId": topicA, "loopbackMetadata": "wrong-types"})
	expectInvalid(t, c, "wrong-types")
	c.emitRaw("SEND_PRESENCE_EVENT", "just a string")
	expectInvalid(t, c, "")
	c.emitRaw("SEND_PRESENCE_EVENT")
	expectInvalid(t, c, "")
	c.emitRaw("SUBSCRIBE_CHANNEL", 42)
	c.waitEvent("SUBSCRIBE_CHANNEL_FAILED")
	watcher.expectNothing(quiet)

	// Still connected and working.
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
	checkPhone(t, watcher.nextPresence(), online, topicA, callSID(1), joined)
}

func removal(topic, sid, loopback string) map[string]any {
	return presenceReq("party.removed", topic, map[string]any{"attendee": map[string]string{"attendeeType": "userId", "attendee": sid}}, loopback)
}

// removalWorld is a bridge on a fake Twilio with a watcher of topic A and an admin of
// every topic subscribed to it.
func removalWorld(t *testing.T) (*fakeTwilio, *bridge, *client, *client) {
	twilio := newFakeTwilio(t)
	b := startBridge(t, prodEnv(t, twilio))
	watcher := subscriber(t, b, topicA, "websocket")
	admin := connect(t, b, token("boss", "admin", "*"), "websocket")
	admin.connected()
	admin.subscribe(topicA)
	return twilio, b, watcher, admin
}

// TestRemoval: an admin removes a phone party: Twilio is asked to hang up, the topic hears
// party.removed, and the leaves follows Twilio's callback. Members, unknown and other-topic
// parties are refused; a Twilio failure is refused and changes nothing.
func TestRemoval(t *testing.T) {
	t.Parallel()
	twilio, b, watcher, admin := removalWorld(t)
	member := connect(t, b, token("bob", "member", topicA), "websocket")
	member.connected()
	member.subscribe(topicA)

	conf := confSID(1)
	twilio.setLive(conf, topicA, callSID(1))
	twilio.setLive(confSID(2), topicB, callSID(2))
	b.dialIn(callSID(1), unknownCaller, numA, conf, topicA, 1)
	b.dialIn(callSID(2), unknownCaller, numB, confSID(2), topicB, 1)
	for _, c := range []*client{watcher, admin, member} {
		c.nextPresence()
	}

	member.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "by-member"))
	expectInvalid(t, member, "by-member")
	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(99), "unknown"))
	expectInvalid(t, admin, "unknown")
	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(2), "other-topic"))
	expectInvalid(t, admin, "other-topic")
	admin.emit("SEND_PRESENCE_EVENT", presenceReq("party.removed", topicA, map[string]any{"attendee": "x"}, "malformed"))
	expectInvalid(t, admin, "malformed")

	twilio.fail(500)
	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "twilio-down"))
	expectInvalid(t, admin, "twilio-down")
	twilio.fail(0)
	watcher.expectNothing(quiet)
	if h := twilio.hungUp(); len(h) != 0 {
		t.Fatalf("calls hung up by refused requests: %v", h)
	}

	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "ok"))
	p := watcher.nextPresence()
	if p.Category != "party.removed" || p.Sender.ID != "boss" || !strings.Contains(string(p.Raw), callSID(1)) {
		t.Fatalf("topic got %s; want party.removed of %s by boss\n%s", p.Category, callSID(1), p.Raw)
	}
	if h := twilio.hungUp(); len(h) != 1 || h[0] != callSID(1) {
		t.Fatalf("hung up %v; want [%s]", h, callSID(1))
	}
	var sawUpdate bool
	for _, r := range twilio.requestLog() {
		if strings.HasPrefix(r, "POST /2010-04-01/Accounts/"+accountID+"/Calls/"+callSID(1)+".json") && strings.Contains(r, "Status=completed") {
			sawUpdate = true
		}
	}
	if !sawUpdate {
		t.Errorf("no Calls/%s.json update with Status=completed in %v", callSID(1), twilio.requestLog())
	}
	watcher.expectNothing(quiet) // the leaves waits for Twilio
	twilio.end(callSID(1))
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 2, callSID(1), "ReasonParticipantLeft", "participant_updated_via_api"), 204)
	checkPhone(t, watcher.nextPresence(), leaves, topicA, callSID(1), gone)
}

// TestPartiesAPI: the operator endpoint lists a topic's phone parties for a token that grants
// the topic.
func TestPartiesAPI(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	b.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	b.dialIn(callSID(2), unknownCaller, numB, confSID(2), topicB, 1)
	path := "/api/topics/" + topicA + "/parties"

	r := b.get(path, token("op", "member", topicA))
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("granted: %d %s", r.Status, r.Body)
	}
	var events []presence
	if err := json.Unmarshal([]byte(r.Body), &events); err != nil || len(events) != 1 {
		t.Fatalf("body %s: %v; want one event", r.Body, err)
	}
	if events[0].Category != online || events[0].Sender.ID != callSID(1) || events[0].Sender.DisplayName != "John Smith" {
		t.Errorf("party %+v", events[0])
	}
	for name, tc := range map[string]struct {
		bearer string
		want   int
	}{
		"no token":    {"", 401},
		"bad token":   {"x.y.z", 401},
		"other topic": {token("op", "member", topicB), 403},
		"expired":     {jwttest.HS256(jwtSecret, map[string]any{"sub": "op", "topics": []string{"*"}, "exp": time.Now().Add(-time.Hour).Unix()}), 401},
	} {
		if r := b.get(path, tc.bearer); r.Status != tc.want {
			t.Errorf("%s: status %d; want %d", name, r.Status, tc.want)
		}
	}
	if r := b.get("/api/topics/"+topicB+"/parties", token("op", "admin", "*")); r.Status != 200 || !strings.Contains(r.Body, callSID(2)) {
		t.Errorf("wildcard token on topic B: %d %s", r.Status, r.Body)
	}
}

// TestMetrics: the bridge's own metrics are exposed, and no label or value carries a phone
// number, a call SID or a token.
func TestMetrics(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	c := subscriber(t, b, topicA, "websocket")
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	c.nextPresence()
	b.postWith("/twilio/conference", confForm("participant-mute", confSID(1), topicA, 2, callSID(1)), "forged")
	r := b.get("/metrics", "")
	if r.Status != 200 {
		t.Fatalf("/metrics: %d", r.Status)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`dialin_webhooks_total\{endpoint="conference",result="ok"\} 1`),
		regexp.MustCompile(`dialin_webhooks_total\{endpoint="voice",result="ok"\} 1`),
		regexp.MustCompile(`dialin_webhook_signature_failures_total 1`),
		regexp.MustCompile(`dialin_events_emitted_total\{category="app.event.presence.party.online"\} 1`),
		regexp.MustCompile(`dialin_phone_parties_online 1`),
		regexp.MustCompile(`dialin_socket_connections 1`),
		regexp.MustCompile(`dialin_socket_subscriptions 1`),
		regexp.MustCompile(`dialin_webhook_duration_seconds_bucket\{endpoint="voice",le="[0-9.]+"\}`),
		regexp.MustCompile(`dialin_twilio_rest_calls_total\{operation="list_conferences",result="error"\} [1-9]`),
	} {
		if !want.MatchString(r.Body) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{"4155550123", "5550123", callSID(1), authToken, jwtSecret} {
		if strings.Contains(r.Body, secret) {
			t.Errorf("/metrics holds %q", secret)
		}
	}
	if r := b.get("/readyz", ""); r.Status != 200 {
		t.Errorf("/readyz %d %s", r.Status, r.Body)
	}
}

// TestStalledClient: a client that stops reading (its process frozen) holds up neither the
// webhooks nor the other subscribers.
func TestStalledClient(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	watcher := subscriber(t, b, topicA, "websocket")
	frozen := subscriber(t, b, topicA, "polling")
	frozen.cmd.Process.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { frozen.cmd.Process.Signal(syscall.SIGCONT) })
	conf := confSID(1)
	b.mustPost("/twilio/voice", voiceForm(callSID(1), unknownCaller, numA), 200)
	for seq := 1; seq <= 6; seq++ {
		event := []string{"participant-join", "participant-mute", "participant-unmute", "participant-hold", "participant-unhold", "participant-leave"}[seq-1]
		start := time.Now()
		b.mustPost("/twilio/conference", confForm(event, conf, topicA, seq, callSID(1)), 204)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v with a frozen subscriber", event, d)
		}
		if p := watcher.nextPresence(); p.Sender.ID != callSID(1) {
			t.Fatalf("watcher got %+v", p.Sender)
		}
	}
}
