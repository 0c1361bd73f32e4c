package e2e

import (
	"encoding/xml"
	"net/url"
	"strings"
	"testing"
)

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
