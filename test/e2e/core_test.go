package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// media is the mediaSession a test expects.
type media struct{ audio, connected, selfMuted, phone bool }

// checkPhone asserts a dial-in event field for field, as the contract's example shows it.
func checkPhone(t *testing.T, p presence, category, topic, sid string, m media) {
	t.Helper()
	if p.Category != category || p.TopicID != topic {
		t.Fatalf("got %s in %s; want %s in %s\n%s", p.Category, p.TopicID, category, topic, p.Raw)
	}
	if !uuidRE.MatchString(p.ID) {
		t.Errorf("_id %q is not a UUID", p.ID)
	}
	if p.Sender.ID != sid || p.Sender.Type != "phone" || p.Content.SessionID != sid {
		t.Errorf("sender %+v sessionId %q; want the call SID %s, type phone", p.Sender, p.Content.SessionID, sid)
	}
	c := p.Content
	if c.Offline || c.Idle || c.Desktop || c.EmitedBy != "wcs" || c.MediaSession.Video || c.MediaSession.Screenshare {
		t.Errorf("content %+v; want offline/idle/desktop/video/screenshare false and emitedby wcs", c)
	}
	got := media{c.MediaSession.Audio, c.MediaSession.Connected, c.MediaSession.SelfMuted, c.MediaSession.Phone}
	if got != m {
		t.Errorf("mediaSession %+v; want %+v\n%s", got, m, p.Raw)
	}
	for _, key := range []string{`"_id"`, `"category"`, `"topicId"`, `"sender"`, `"content"`, `"username"`, `"displayname"`,
		`"picture_url"`, `"offline"`, `"role"`, `"mediaSession"`, `"idle"`, `"desktop"`, `"emitedby"`, `"sessionId"`,
		`"video"`, `"audio"`, `"connected"`, `"screenshare"`, `"selfMuted"`, `"phone"`} {
		if !strings.Contains(string(p.Raw), key) {
			t.Errorf("event lacks %s: %s", key, p.Raw)
		}
	}
}

var (
	online  = "app.event.presence.party.online"
	leaves  = "app.event.presence.party.leaves"
	joined  = media{audio: true, connected: true, phone: true}
	gone    = media{audio: true}
	muted   = media{audio: true, connected: true, selfMuted: true, phone: true}
	onHold  = media{connected: true, phone: true}
	invalid = "media.session.invalid"
)

// TestCallLifecycle follows one directory caller through every conference event, over
// websocket and polling clients, with duplicates and late callbacks.
func TestCallLifecycle(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			b := startBridge(t, prodEnv(t, nil))
			c := subscriber(t, b, topicA, transport)
			sid, conf := callSID(1), confSID(1)

			b.dialIn(sid, knownCaller, numA, conf, topicA, 1)
			p := c.nextPresence()
			checkPhone(t, p, online, topicA, sid, joined)
			if p.Sender.Username != "jsmith@fakeemail.com" || p.Sender.DisplayName != "John Smith" ||
				p.Sender.PictureURL != "https://example.com/p/jsmith.png" || p.Content.Role != "member" {
				t.Errorf("directory caller shown as %+v role %q", p.Sender, p.Content.Role)
			}
			first := p.ID

			// A repeated join (Twilio retried it) shows nothing new.
			b.mustPost("/twilio/conference", confForm("participant-join", conf, topicA, 1, sid), 204)
			c.expectNothing(quiet)

			steps := []struct {
				event string
				seq   int
				want  media
			}{
				{"participant-mute", 2, muted},
				{"participant-unmute", 3, joined},
				{"participant-hold", 4, onHold},
				{"participant-unhold", 5, joined},
			}
			for _, s := range steps {
				b.mustPost("/twilio/conference", confForm(s.event, conf, topicA, s.seq, sid), 204)
				p := c.nextPresence()
				checkPhone(t, p, online, topicA, sid, s.want)
				if p.ID == first {
					t.Errorf("%s reused the event _id %s", s.event, p.ID)
				}
			}
			// An older callback after a newer one changes nothing.
			b.mustPost("/twilio/conference", confForm("participant-mute", conf, topicA, 2, sid), 204)
			c.expectNothing(quiet)

			b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 6, sid), 204)
			checkPhone(t, c.nextPresence(), leaves, topicA, sid, gone)

			// After the leave: a duplicate leave, a late mute (newer or older), the call's own
			// completed status: nothing.
			b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 6, sid), 204)
			b.mustPost("/twilio/conference", confForm("participant-mute", conf, topicA, 7, sid), 204)
			b.mustPost("/twilio/conference", confForm("participant-unmute", conf, topicA, 3, sid), 204)
			b.mustPost("/twilio/status", statusForm(sid, "completed", 3), 204)
			c.expectNothing(quiet)
		})
	}
}

// TestUpgradeToWebsocket: a client that connects as browsers do, by polling and then
// upgrading to a websocket, is upgraded and gets its events before and after.
func TestUpgradeToWebsocket(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	c := subscriber(t, b, topicA, "upgrade")
	b.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
	c.waitTransport("websocket")
	b.dialIn(callSID(2), unknownCaller, numA, confSID(1), topicA, 2)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(2), joined)
	b.mustPost("/twilio/conference", confForm("participant-leave", confSID(1), topicA, 3, callSID(1)), 204)
	checkPhone(t, c.nextPresence(), leaves, topicA, callSID(1), gone)
}

// TestConferenceEndAndStatusBackstop: conference-end takes every party out; a call status
// completed ends a call whose participant-leave never came; a call that never joined emits
// nothing.
func TestConferenceEndAndStatusBackstop(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	c := subscriber(t, b, topicA, "websocket")
	conf := confSID(2)
	for i := 1; i <= 3; i++ {
		b.dialIn(callSID(i), unknownCaller, numA, conf, topicA, i)
		checkPhone(t, c.nextPresence(), online, topicA, callSID(i), joined)
	}
	// Call 3 leaves on its own first; the conference then ends.
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 4, callSID(3)), 204)
	checkPhone(t, c.nextPresence(), leaves, topicA, callSID(3), gone)
	b.mustPost("/twilio/conference", confForm("conference-end", conf, topicA, 5, ""), 204)
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		p := c.nextPresence()
		checkPhone(t, p, leaves, topicA, p.Sender.ID, gone)
		got[p.Sender.ID] = true
	}
	if !got[callSID(1)] || !got[callSID(2)] {
		t.Errorf("conference-end left %v; want calls 1 and 2", got)
	}
	// Late participant-leaves after the end: nothing.
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 6, callSID(1)), 204)
	c.expectNothing(quiet)

	// The backstop: a call whose participant-leave is lost ends with its status callback.
	conf2 := confSID(3)
	b.dialIn(callSID(10), unknownCaller, numA, conf2, topicA, 1)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(10), joined)
	b.mustPost("/twilio/status", statusForm(callSID(10), "in-progress", 1), 204)
	c.expectNothing(quiet)
	b.mustPost("/twilio/status", statusForm(callSID(10), "completed", 2), 204)
	checkPhone(t, c.nextPresence(), leaves, topicA, callSID(10), gone)
	b.mustPost("/twilio/conference", confForm("participant-leave", conf2, topicA, 2, callSID(10)), 204)
	c.expectNothing(quiet)

	// Calls that end before joining: nothing at all, and a late join changes nothing.
	for i, status := range []string{"busy", "no-answer", "canceled", "failed", "completed"} {
		sid := callSID(20 + i)
		b.mustPost("/twilio/voice", voiceForm(sid, unknownCaller, numA), 200)
		b.mustPost("/twilio/status", statusForm(sid, status, 1), 204)
	}
	b.mustPost("/twilio/conference", confForm("participant-join", confSID(4), topicA, 1, callSID(24)), 204)
	c.expectNothing(quiet)
}

// TestTopicsIsolated: a subscriber sees its own topic's parties and nothing of another's.
func TestTopicsIsolated(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	ca := subscriber(t, b, topicA, "websocket")
	cb := subscriber(t, b, topicB, "polling")
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	b.dialIn(callSID(2), unknownCaller, numB, confSID(2), topicB, 1)
	checkPhone(t, ca.nextPresence(), online, topicA, callSID(1), joined)
	checkPhone(t, cb.nextPresence(), online, topicB, callSID(2), joined)
	ca.expectNothing(quiet)
	cb.expectNothing(quiet)

	// Unsubscribed, a client hears nothing more.
	ca.emit("UNSUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicA, "type": "topic"}})
	ca.waitEvent("CHANNEL_UNSUBSCRIBED")
	b.mustPost("/twilio/conference", confForm("participant-leave", confSID(1), topicA, 2, callSID(1)), 204)
	ca.expectNothing(quiet)
}

// TestCallerNames: masked numbers, CallerName, withheld numbers; and no full number in logs.
func TestCallerNames(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	c := subscriber(t, b, topicA, "websocket")
	cases := []struct {
		from, callerName, want string
	}{
		{unknownCaller, "", "+1 ••• 0123"},
		{"+447700900123", "", "+44 ••• 0123"},
		{"+14155550124", "DOE JANE", "DOE JANE"},
		{"anonymous", "", "Anonymous caller"},
		{"+266696687", "", "Anonymous caller"},
		{"", "", "Anonymous caller"},
		{"restricted", "", "Anonymous caller"},
	}
	for i, tc := range cases {
		sid := callSID(100 + i)
		form := voiceForm(sid, tc.from, numA)
		if tc.callerName != "" {
			form.Set("CallerName", tc.callerName)
		}
		b.mustPost("/twilio/voice", form, 200)
		b.mustPost("/twilio/conference", confForm("participant-join", confSID(1), topicA, i+1, sid), 204)
		p := c.nextPresence()
		checkPhone(t, p, online, topicA, sid, joined)
		if p.Sender.DisplayName != tc.want || p.Sender.Username != "" || p.Content.Role != "guest" ||
			p.Sender.PictureURL != "https://example.com/p/default.png" {
			t.Errorf("caller %q (%q) shown as %+v role %q; want %q, no username, default picture, guest",
				tc.from, tc.callerName, p.Sender, p.Content.Role, tc.want)
		}
		if strings.Contains(string(p.Raw), "4155550123") || strings.Contains(string(p.Raw), "7700900123") {
			t.Errorf("event shows a full number: %s", p.Raw)
		}
	}
	logs := b.LogsWritten()
	for _, full := range []string{"4155550123", "7700900123", "4155550124"} {
		if strings.Contains(logs, full) {
			t.Errorf("logs hold the full number %s", full)
		}
	}
}

// TestIdleClientsStay: a subscriber that only listens keeps its connection past the ping
// timeout and gets events then. The ping interval is shortened to keep the test short.
func TestIdleClientsStay(t *testing.T) {
	t.Parallel()
	env := prodEnv(t, nil)
	env["DIALIN_PING_INTERVAL"] = "500ms" // clients dropped after 750ms of silence
	b := startBridge(t, env)
	ws := subscriber(t, b, topicA, "websocket")
	poll := subscriber(t, b, topicA, "polling")
	time.Sleep(2 * time.Second) // four ping intervals, well past the timeout
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	for _, c := range []*client{ws, poll} {
		checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
	}
}

// TestGarbagePackets: raw socket.io packets that are not JSON, or of the wrong shape, get the
// sender refused or dropped, and disturb no one else.
func TestGarbagePackets(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	watcher := subscriber(t, b, topicA, "websocket")
	for _, raw := range []string{`42/chat,[not json`, `42/chat,{"a":1}`, `42/chat,["SEND_PRESENCE_EVENT",` + strings.Repeat("[", 5000), `4x`, `42/chat,[]`, `42/chat,[7,8]`} {
		bad := subscriber(t, b, topicA, "websocket")
		line, _ := json.Marshal(map[string]string{"raw": raw})
		bad.stdin.Write(append(line, '\n'))
	}
	time.Sleep(quiet)
	if r := b.get("/healthz", ""); r.Status != 200 {
		t.Fatalf("/healthz after garbage: %d", r.Status)
	}
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, watcher.nextPresence(), online, topicA, callSID(1), joined)
	if strings.Contains(b.Logs(), "panic") {
		t.Errorf("the bridge logged a panic:\n%s", b.Logs())
	}
}
