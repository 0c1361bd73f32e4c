package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
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
	upgraded := false
	for deadline := time.Now().Add(eventWait); !upgraded && time.Now().Before(deadline); {
		upgraded = c.transport() == "websocket"
		if !upgraded {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !upgraded {
		t.Fatal("the client was not upgraded to websocket")
	}
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

// TestTokens: connections without a valid token are refused; a token grants its topics only.
func TestTokens(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	exp := time.Now().Add(time.Hour).Unix()
	refused := map[string]string{
		"no token":     "",
		"garbage":      "not-a-jwt",
		"wrong key":    jwttest.HS256("another secret", map[string]any{"sub": "u", "topics": []string{"*"}, "role": "member", "exp": exp}),
		"expired":      jwttest.HS256(jwtSecret, map[string]any{"sub": "u", "topics": []string{"*"}, "role": "member", "exp": time.Now().Add(-time.Minute).Unix()}),
		"no expiry":    jwttest.HS256(jwtSecret, map[string]any{"sub": "u", "topics": []string{"*"}, "role": "member"}),
		"alg none":     "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(token("u", "admin", "*"), ".")[1] + ".",
		"no subject":   jwttest.HS256(jwtSecret, map[string]any{"topics": []string{"*"}, "role": "member", "exp": exp}),
		"unknown role": jwttest.HS256(jwtSecret, map[string]any{"sub": "u", "topics": []string{"*"}, "role": "owner", "exp": exp}),
	}
	for name, tok := range refused {
		t.Run(name, func(t *testing.T) {
			connect(t, b, tok, "websocket").refused()
		})
	}
	t.Run("topic not granted", func(t *testing.T) {
		c := connect(t, b, token("u1", "member", topicB), "websocket")
		c.connected()
		c.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicA, "type": "topic"}})
		raw := c.waitEvent("SUBSCRIBE_CHANNEL_FAILED")
		if !strings.Contains(string(raw), topicA) || !strings.Contains(string(raw), `"error"`) {
			t.Errorf("SUBSCRIBE_CHANNEL_FAILED %s; want {channel, error}", raw)
		}
		b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
		c.expectNothing(quiet)
	})
	t.Run("any topic", func(t *testing.T) {
		c := connect(t, b, token("u2", "guest", "*"), "polling")
		c.connected()
		c.subscribe(topicB) // fails the test unless CHANNEL_SUBSCRIBED arrives
		c.subscribe(topicA)
	})
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
	for _, full := range []string{"4155550123", "7700900123", "4155550124"} {
		if strings.Contains(b.Logs(), full) {
			t.Errorf("logs hold the full number %s", full)
		}
	}
}

// TestWebhookRefusals: forged, malformed and oversized webhooks change nothing.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	c := subscriber(t, b, topicA, "websocket")
	join := confForm("participant-join", confSID(1), topicA, 1, callSID(1))
	b.mustPost("/twilio/voice", voiceForm(callSID(1), unknownCaller, numA), 200)

	for name, sig := range map[string]string{
		"missing signature": "",
		"wrong token":       sign("not the token", b.env["DIALIN_PUBLIC_URL"]+"/twilio/conference", join),
		"other URL":         sign(authToken, "https://evil.example.com/twilio/conference", join),
	} {
		if r := b.postWith("/twilio/conference", join, sig); r.Status != 403 {
			t.Errorf("%s: status %d; want 403", name, r.Status)
		}
	}
	tampered := confForm("participant-join", confSID(1), topicA, 1, callSID(1))
	tampered.Set("Muted", "true")
	if r := b.postWith("/twilio/conference", tampered, sign(authToken, b.env["DIALIN_PUBLIC_URL"]+"/twilio/conference", join)); r.Status != 403 {
		t.Errorf("tampered body: status %d; want 403", r.Status)
	}
	for name, form := range map[string]url.Values{
		"no CallSid":       confForm("participant-join", confSID(1), topicA, 1, "", "Muted", "false", "Hold", "false"),
		"bad CallSid":      confForm("participant-join", confSID(1), topicA, 1, "CA123"),
		"malformed event":  confForm("Participant Dance!", confSID(1), topicA, 1, callSID(1)),
		"bad sequence":     confForm("participant-join", confSID(1), topicA, 1, callSID(1), "SequenceNumber", "x"),
		"bad Muted":        confForm("participant-join", confSID(1), topicA, 1, callSID(1), "Muted", "maybe"),
		"no event":         confForm("", confSID(1), topicA, 1, callSID(1)),
		"voice no CallSid": {"From": {unknownCaller}, "To": {numA}},
	} {
		path := "/twilio/conference"
		if strings.HasPrefix(name, "voice") {
			path = "/twilio/voice"
		}
		r := b.post(path, form)
		if r.Status != 400 || strings.Count(strings.TrimSpace(r.Body), "\n") > 0 || strings.TrimSpace(r.Body) == "" {
			t.Errorf("%s: status %d body %q; want 400 with a one-line reason", name, r.Status, r.Body)
		}
	}
	big := join.Encode() + "&Padding=" + strings.Repeat("x", 64<<10)
	if r := b.postRaw("/twilio/conference", big, "anything"); r.Status != 413 {
		t.Errorf("oversized body: status %d; want 413", r.Status)
	}
	c.expectNothing(quiet)

	// The fragment Twilio may add for connection overrides is not signed: a request signed
	// over the URL without it is accepted.
	b.mustPost("/twilio/conference", join, 204)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
}

// twiml is a Voice TwiML response as far as the tests read it.
type twiml struct {
	XMLName xml.Name  `xml:"Response"`
	Say     []string  `xml:"Say"`
	Hangup  *struct{} `xml:"Hangup"`
	Gather  *struct {
		Input       string   `xml:"input,attr"`
		FinishOnKey string   `xml:"finishOnKey,attr"`
		Action      string   `xml:"action,attr"`
		Method      string   `xml:"method,attr"`
		Say         []string `xml:"Say"`
	} `xml:"Gather"`
	Dial *struct {
		Conference *struct {
			Name                 string `xml:",chardata"`
			StatusCallback       string `xml:"statusCallback,attr"`
			StatusCallbackMethod string `xml:"statusCallbackMethod,attr"`
			StatusCallbackEvent  string `xml:"statusCallbackEvent,attr"`
		} `xml:"Conference"`
	} `xml:"Dial"`
}

func parseTwiML(t *testing.T, r response) twiml {
	t.Helper()
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
		t.Errorf("Content-Type %q; want text/xml", r.Header.Get("Content-Type"))
	}
	var x twiml
	if err := xml.Unmarshal([]byte(r.Body), &x); err != nil {
		t.Fatalf("TwiML %q: %v", r.Body, err)
	}
	return x
}

func checkConference(t *testing.T, b *bridge, x twiml, topic string) {
	t.Helper()
	if x.Dial == nil || x.Dial.Conference == nil {
		t.Fatalf("no <Dial><Conference>: %+v", x)
	}
	c := x.Dial.Conference
	if c.Name != topic || c.StatusCallback != b.env["DIALIN_PUBLIC_URL"]+"/twilio/conference" ||
		c.StatusCallbackMethod != "POST" || c.StatusCallbackEvent != "start end join leave mute hold" {
		t.Errorf("conference %+v; want %s with the bridge's status callback", *c, topic)
	}
}

// TestRouting: SIP header, dialled number, PIN with three tries.
func TestRouting(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	pub := b.env["DIALIN_PUBLIC_URL"]

	x := parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(1), unknownCaller, "sip:bridge@example.sip.twilio.com", "SipHeader_X-Topic-Id", topicB), 200))
	checkConference(t, b, x, topicB)
	x = parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(2), unknownCaller, numA), 200))
	checkConference(t, b, x, topicA)
	x = parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(3), unknownCaller, numB, "SipHeader_X-Topic-Id", "unknown-topic"), 200))
	checkConference(t, b, x, topicB)

	// An unknown number is asked for its PIN.
	x = parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(4), unknownCaller, "+15005550099"), 200))
	if x.Gather == nil || x.Gather.Input != "dtmf" || x.Gather.FinishOnKey != "#" || !strings.HasPrefix(x.Gather.Action, pub+"/twilio/voice/pin") {
		t.Fatalf("no PIN <Gather>: %s", b.post("/twilio/voice", voiceForm(callSID(4), unknownCaller, "+15005550099")).Body)
	}
	postPIN := func(action, digits string) twiml {
		t.Helper()
		u, err := url.Parse(action)
		if err != nil {
			t.Fatal(err)
		}
		form := voiceForm(callSID(4), unknownCaller, "+15005550099", "Digits", digits)
		return parseTwiML(t, b.mustPost(u.RequestURI(), form, 200))
	}
	right := postPIN(x.Gather.Action, pinB+"#")
	checkConference(t, b, right, topicB)

	// Three wrong PINs: asked again twice, then goodbye.
	action := x.Gather.Action
	for try := 1; try <= 3; try++ {
		y := postPIN(action, "000000")
		if try < 3 {
			if y.Gather == nil || y.Dial != nil {
				t.Fatalf("wrong PIN %d: want another <Gather>, got %+v", try, y)
			}
			action = y.Gather.Action
			continue
		}
		if y.Hangup == nil || len(y.Say) == 0 || y.Gather != nil || y.Dial != nil {
			t.Fatalf("third wrong PIN: want <Say> and <Hangup/>, got %+v", y)
		}
	}

	// The call routed by PIN appears in its topic when it joins.
	c := subscriber(t, b, topicB, "websocket")
	b.mustPost("/twilio/conference", confForm("participant-join", confSID(9), topicB, 1, callSID(4)), 204)
	p := c.nextPresence()
	checkPhone(t, p, online, topicB, callSID(4), joined)
	if p.Sender.DisplayName != "+1 ••• 0123" {
		t.Errorf("PIN caller shown as %q", p.Sender.DisplayName)
	}
}

// TestDevMode: no Twilio or JWT settings; unsigned webhooks and tokenless clients work.
func TestDevMode(t *testing.T) {
	t.Parallel()
	b := startBridge(t, map[string]string{"DIALIN_DEV": "true", "DIALIN_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	if !strings.Contains(b.Logs(), "DEVELOPMENT MODE") {
		t.Errorf("no development-mode warning in the logs:\n%s", b.Logs())
	}
	c := connect(t, b, "", "websocket")
	c.connected()
	c.subscribe(topicA)
	if r := b.postWith("/twilio/voice", voiceForm(callSID(1), unknownCaller, numA), ""); r.Status != 200 {
		t.Fatalf("unsigned voice webhook in dev mode: %d %s", r.Status, r.Body)
	}
	if r := b.postWith("/twilio/conference", confForm("participant-join", confSID(1), topicA, 1, callSID(1)), ""); r.Status != 204 {
		t.Fatalf("unsigned join in dev mode: %d %s", r.Status, r.Body)
	}
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
}

// TestConfigErrors: a bad configuration stops the start with one message naming each
// offending variable.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	run := func(env ...string) (string, int) {
		cmd := exec.Command(binary)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run()
	if code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("empty environment: exit %d, output %q; want non-zero and one line", code, out)
	}
	for _, name := range []string{"DIALIN_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "DIALIN_JWT_SECRET"} {
		if !strings.Contains(out, name) {
			t.Errorf("empty environment: %q does not name %s", out, name)
		}
	}
	out, code = run("DIALIN_DEV=true", "DIALIN_CALLER_ID=partial", "DIALIN_RECONCILE_INTERVAL=soon")
	if code == 0 || !strings.Contains(out, "DIALIN_CALLER_ID") || !strings.Contains(out, "DIALIN_RECONCILE_INTERVAL") {
		t.Errorf("bad caller id and interval: exit %d, %q; want both named", code, out)
	}
	dir := t.TempDir()
	bad := writeFile(t, dir, "rooms.json", `{"topics": [], "callers": [], "colour": "blue"}`)
	out, code = run("DIALIN_DEV=true", "DIALIN_ROOMS_FILE="+bad, "DIALIN_LISTEN_ADDR="+freeAddr(t), "DIALIN_DATA_DIR="+dir)
	if code == 0 || !strings.Contains(out, "colour") {
		t.Errorf("rooms file with an unknown field: exit %d, %q; want a refusal naming it", code, out)
	}
}

// TestReloadRooms: SIGHUP reloads the rooms file; a bad file keeps the old one.
func TestReloadRooms(t *testing.T) {
	t.Parallel()
	env := prodEnv(t, nil)
	b := startBridge(t, env)
	newTopic, newNumber := "6a0000000000000000000001", "+15005550010"
	x := parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(1), unknownCaller, newNumber), 200))
	if x.Dial != nil {
		t.Fatalf("unknown number routed before the reload: %+v", x)
	}
	updated := strings.Replace(roomsJSON, `"topics": [`, `"topics": [ { "topicId": "`+newTopic+`", "numbers": ["`+newNumber+`"] },`, 1)
	writeFile(t, filepath.Dir(env["DIALIN_ROOMS_FILE"]), "rooms.json", updated)
	b.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		x = parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(2), unknownCaller, newNumber), 200))
		if x.Dial != nil {
			checkConference(t, b, x, newTopic)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new number not routed after SIGHUP")
		}
		time.Sleep(100 * time.Millisecond)
	}
	writeFile(t, filepath.Dir(env["DIALIN_ROOMS_FILE"]), "rooms.json", `{"topics": [`)
	b.cmd.Process.Signal(syscall.SIGHUP)
	// The bridge says when it read the bad file; until then the old rooms would be in force
	// whether or not the signal is handled.
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(b.Logs(), "rooms file reload failed") {
		if time.Now().After(deadline) {
			t.Fatal("no reload failure logged after SIGHUP with a bad file")
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkConference(t, b, parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(3), unknownCaller, newNumber), 200)), newTopic)
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

// TestPublicKeyTokens: a bridge that verifies tokens with a PEM public key (RS256) only.
func TestPublicKeyTokens(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	env := prodEnv(t, nil)
	delete(env, "DIALIN_JWT_SECRET")
	env["DIALIN_JWT_PUBLIC_KEY_FILE"] = writeFile(t, t.TempDir(), "jwt.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	b := startBridge(t, env)

	enc := func(v any) string { j, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(j) }
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		enc(map[string]any{"sub": "rsa-user", "topics": []string{topicA}, "role": "member", "exp": time.Now().Add(time.Hour).Unix()})
	digest := sha256.Sum256([]byte(signing))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	rs256 := signing + "." + base64.RawURLEncoding.EncodeToString(sig)

	c := connect(t, b, rs256, "websocket")
	c.connected()
	c.subscribe(topicA)
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
	connect(t, b, token("hs-user", "member", topicA), "websocket").refused() // no secret configured
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
