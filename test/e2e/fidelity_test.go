package e2e

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// getHook sends a webhook as Twilio does for a number configured for HTTP GET: parameters in
// the query, signed over the full URL and nothing else.
func (b *bridge) getHook(path string, form url.Values) response {
	b.t.Helper()
	path += "?" + form.Encode()
	return b.send(http.MethodGet, path, "", sign(authToken, b.env["DIALIN_PUBLIC_URL"]+path, nil))
}

// twimlAttrs returns the attributes of every element named name in a TwiML answer.
func twimlAttrs(t *testing.T, body, name string) []map[string]string {
	t.Helper()
	var out []map[string]string
	dec := xml.NewDecoder(strings.NewReader(body))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("TwiML %q: %v", body, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			attrs := map[string]string{}
			for _, a := range se.Attr {
				attrs[a.Name.Local] = a.Value
			}
			out = append(out, attrs)
		}
	}
}

// TestTwilioFidelity drives the built bridge as Twilio does with a number configured for
// HTTP GET and a SIP trunk, with the operator's voice and call length, and checks what
// Twilio and a room client see (issue 11, items 6 to 11).
func TestTwilioFidelity(t *testing.T) {
	t.Parallel()
	env := prodEnv(t, nil)
	env["DIALIN_SAY_VOICE"] = "Polly.Amy-Neural"
	env["DIALIN_SAY_LANGUAGE"] = "en-GB"
	env["DIALIN_MAX_CALL_DURATION"] = "2h"
	b := startBridge(t, env)
	c := subscriber(t, b, topicB, "websocket")
	sipA, sipB := callSID(900), callSID(901)
	conf := confSID(900)

	// A number without a meeting: the PIN prompt, in the configured voice.
	r := b.getHook("/twilio/voice", voiceForm(callSID(902), unknownCaller, "+15005550099"))
	if r.Status != 200 {
		t.Fatalf("GET incoming call: %d %s", r.Status, r.Body)
	}
	for _, say := range twimlAttrs(t, r.Body, "Say") {
		if say["voice"] != "Polly.Amy-Neural" || say["language"] != "en-GB" {
			t.Errorf("Say %v; want voice Polly.Amy-Neural, language en-GB", say)
		}
	}

	// A SIP call naming its topic in a lower-case header, from an E.164 SIP URI, by GET.
	sip := func(sid, from, name string) url.Values {
		return voiceForm(sid, from, "sip:bridge@example.sip.twilio.com", "SipHeader_x-topic-id", topicB,
			"SipDomain", "example.sip.twilio.com", "SipCallId", sid+"@pbx.example.com", "CallerName", name)
	}
	r = b.getHook("/twilio/voice", sip(sipA, "sip:+14155550123@pbx.example.com", "WIRELESS CALLER"))
	dials := twimlAttrs(t, r.Body, "Dial")
	confs := twimlAttrs(t, r.Body, "Conference")
	if r.Status != 200 || len(dials) != 1 || dials[0]["timeLimit"] != "7200" || len(confs) != 1 {
		t.Fatalf("SIP call: %d %s; want <Dial timeLimit=\"7200\"><Conference>", r.Status, r.Body)
	}
	if r := b.getHook("/twilio/conference", confForm("participant-join", conf, topicB, 2, sipA)); r.Status != 204 {
		t.Fatalf("GET participant-join: %d %s", r.Status, r.Body)
	}
	p := c.nextPresence()
	checkPhone(t, p, online, topicB, sipA, joined)
	if p.Sender.DisplayName != "+1 ••• 0123" {
		t.Errorf("SIP caller with a placeholder CallerName shown as %q; want +1 ••• 0123", p.Sender.DisplayName)
	}

	// Callbacks the bridge has no use for: 204, nothing in the room.
	for _, f := range []url.Values{
		confForm("conference-record-stop", conf, topicB, 3, ""),
		confForm("participant-speech-start", conf, topicB, 4, sipA, "Muted", "true"),
	} {
		if r := b.post("/twilio/conference", f); r.Status != 204 {
			t.Errorf("%s: %d %s; want 204", f.Get("StatusCallbackEvent"), r.Status, r.Body)
		}
	}
	if r := b.post("/twilio/status", statusForm(sipA, "answered", 1)); r.Status != 204 {
		t.Errorf("CallStatus answered: %d %s; want 204", r.Status, r.Body)
	}
	c.expectNothing(quiet)

	// The second caller's join, older than the conference's end, arrives after it.
	b.mustPost("/twilio/voice", sip(sipB, "sip:+14155550124@pbx.example.com", ""), 200)
	b.mustPost("/twilio/conference", confForm("conference-end", conf, topicB, 10, ""), 204)
	checkPhone(t, c.nextPresence(), leaves, topicB, sipA, gone)
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topicB, 5, sipB), 204)
	c.expectNothing(quiet)
	if logs := b.LogsWritten(); strings.Contains(logs, "4155550123") || strings.Contains(logs, "4155550124") {
		t.Error("the logs hold a full number")
	}
}
