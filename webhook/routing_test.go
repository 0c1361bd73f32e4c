package webhook_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// checkJoin asserts TwiML that joins the caller to topic's conference.
func checkJoin(t *testing.T, root node, topic string) {
	t.Helper()
	if names := root.names(); !slices.Equal(names, []string{"Dial"}) {
		t.Fatalf("Response children %v; want [Dial]", names)
	}
	dial := root.Children[0]
	if names := dial.names(); !slices.Equal(names, []string{"Conference"}) {
		t.Fatalf("Dial children %v; want [Conference]", names)
	}
	conf := dial.Children[0]
	if got := strings.TrimSpace(conf.Text); got != topic {
		t.Errorf("conference name %q; want %q", got, topic)
	}
	want := map[string]string{
		"statusCallback":       publicURL + webhook.PathConference,
		"statusCallbackMethod": "POST",
		"statusCallbackEvent":  "start end join leave mute hold",
	}
	for k, v := range want {
		if got, ok := conf.attr(k); !ok || got != v {
			t.Errorf("Conference %s = %q (present %v); want %q", k, got, ok, v)
		}
	}
	if _, ok := root.find("Gather"); ok {
		t.Error("a routed call is asked for a PIN")
	}
}

// checkGather asserts TwiML that asks for a PIN, posting it back with attempt.
func checkGather(t *testing.T, root node, attempt string) {
	t.Helper()
	g, ok := root.find("Gather")
	if !ok {
		t.Fatalf("no Gather in %+v", root.names())
	}
	want := map[string]string{
		"input":       "dtmf",
		"finishOnKey": "#",
		"action":      publicURL + webhook.PathPIN + "?attempt=" + attempt,
	}
	for k, v := range want {
		if got, ok := g.attr(k); !ok || got != v {
			t.Errorf("Gather %s = %q (present %v); want %q", k, got, ok, v)
		}
	}
	if m, ok := g.attr("method"); ok && m != "POST" {
		t.Errorf("Gather method %q; want POST", m)
	}
	if _, ok := root.find("Dial"); ok {
		t.Error("a call asked for a PIN is also dialled")
	}
}

// checkGoodbye asserts TwiML that says something and hangs up, and nothing else.
func checkGoodbye(t *testing.T, root node) {
	t.Helper()
	names := root.names()
	if len(names) < 2 || names[len(names)-1] != "Hangup" || !slices.Contains(names, "Say") {
		t.Fatalf("Response children %v; want Say… Hangup", names)
	}
	for _, n := range []string{"Dial", "Gather"} {
		if _, ok := root.find(n); ok {
			t.Errorf("goodbye TwiML contains %s", n)
		}
	}
	say, _ := root.find("Say")
	if strings.TrimSpace(say.Text) == "" {
		t.Error("Say says nothing")
	}
}

func TestRouting(t *testing.T) {
	sid := callSID(10)
	const sipCaller = "sip:alice@pbx.example.com"
	tests := []struct {
		name string
		form url.Values
		// topic is the conference joined; empty means a PIN is asked for.
		topic string
	}{
		{"SIP header of a known topic", voiceForm(sid, "sip:alice@example.com", "sip:bridge@x.sip.twilio.com", "SipHeader_X-Topic-Id", topicB), topicB},
		{"SIP header wins over To", voiceForm(sid, unknownCaller, numA, "SipHeader_X-Topic-Id", topicB), topicB},
		{"unknown SIP topic falls back to To", voiceForm(sid, unknownCaller, numA, "SipHeader_X-Topic-Id", "000000000000000000000000"), topicA},
		{"unknown SIP topic and unknown To asks for a PIN", voiceForm(sid, unknownCaller, "+15005550009", "SipHeader_X-Topic-Id", "nope"), ""},
		{"To of topic A", voiceForm(sid, unknownCaller, numA), topicA},
		{"To of topic B", voiceForm(sid, knownCaller, numB), topicB},
		{"unknown To asks for a PIN", voiceForm(sid, unknownCaller, "+15005550009"), ""},
		{"withheld caller to a known number", voiceForm(sid, "anonymous", numB), topicB},

		// SIP: the X-Topic-Id header in any case of its name, or the To URI's user part
		// (a topic id, or an E.164 number routed as that number).
		{"header X-Topic-Id", sipForm(sid, sipCaller, "sip:bridge@example.sip.twilio.com", "SipHeader_X-Topic-Id", topicB), topicB},
		{"header x-topic-id", sipForm(sid, sipCaller, "sip:bridge@example.sip.twilio.com", "SipHeader_x-topic-id", topicB), topicB},
		{"header X-TOPIC-ID", sipForm(sid, sipCaller, "sip:bridge@example.sip.twilio.com", "SipHeader_X-TOPIC-ID", topicB), topicB},
		{"header x-Topic-ID to a routed number", sipForm(sid, sipCaller, "sip:+15005550006@example.sip.twilio.com", "SipHeader_x-Topic-ID", topicB), topicB},
		{"To user part is a topic id", sipForm(sid, sipCaller, "sip:"+topicB+"@example.sip.twilio.com"), topicB},
		{"To user part is a topic id, sips with parameters", sipForm(sid, sipCaller, "sips:"+topicB+"@example.sip.twilio.com;transport=tls"), topicB},
		{"header of an unknown topic, To names a topic", sipForm(sid, sipCaller, "sip:"+topicA+"@example.sip.twilio.com", "SipHeader_x-topic-id", "nope"), topicA},
		{"To user part is a routed number", sipForm(sid, sipCaller, "sip:+15005550006@example.sip.twilio.com"), topicA},
		{"To user part is a routed number, user=phone", sipForm(sid, sipCaller, "sip:+442071838750@example.sip.twilio.com;user=phone"), topicB},
		{"To user part is an unknown topic", sipForm(sid, sipCaller, "sip:000000000000000000000000@example.sip.twilio.com"), ""},
		{"To user part is a number without +", sipForm(sid, sipCaller, "sip:15005550006@example.sip.twilio.com"), ""},
		{"To without a user part", sipForm(sid, sipCaller, "sip:example.sip.twilio.com"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			root := parseTwiML(t, b.post(webhook.PathVoice, tc.form, http.StatusOK))
			if tc.topic == "" {
				checkGather(t, root, "1")
			} else {
				checkJoin(t, root, tc.topic)
			}
			c, ok := b.call(sid)
			if !ok {
				t.Fatal("incoming call not stored")
			}
			if c.State != roster.Routing || c.TopicID != tc.topic {
				t.Errorf("stored call %q in topic %q; want routing in %q", c.State, c.TopicID, tc.topic)
			}
			if b.pub.len() != 0 {
				t.Error("an incoming call published an event before joining")
			}
		})
	}
}

func TestRoutingWithoutPINs(t *testing.T) {
	b := newBridge(t, withRooms("rooms-nopins.json"))
	root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(11), unknownCaller, "+15005550009"), http.StatusOK))
	checkGoodbye(t, root)

	root = parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(12), unknownCaller, numA), http.StatusOK))
	checkJoin(t, root, topicA)
}

func TestPIN(t *testing.T) {
	sid := callSID(20)
	const unroutedTo = "+15005550009"
	tests := []struct {
		name    string
		attempt string // query value; empty: no query
		digits  string
		// want is "join:<topic>", "gather:<next attempt>" or "goodbye".
		want string
	}{
		{"right PIN of A", "1", pinA, "join:" + topicA},
		{"right PIN of B", "1", pinB, "join:" + topicB},
		{"right PIN at the last attempt", "3", pinB, "join:" + topicB},
		{"right PIN without attempt", "", pinA, "join:" + topicA},
		{"wrong PIN, attempt 1", "1", "000000", "gather:2"},
		{"wrong PIN, attempt 2", "2", "111111", "gather:3"},
		{"wrong PIN, attempt 3", "3", "222222", "goodbye"},
		{"empty PIN, attempt 1", "1", "", "gather:2"},
		{"empty PIN, attempt 3", "3", "", "goodbye"},
		{"PIN prefix", "1", pinA[:4], "gather:2"},
		{"PIN with extra digit", "1", pinA + "1", "gather:2"},
		{"PIN with a star", "1", "*" + pinA, "gather:2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			checkGather(t, parseTwiML(t, b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, unroutedTo), http.StatusOK)), "1")
			path := webhook.PathPIN
			if tc.attempt != "" {
				path += "?attempt=" + tc.attempt
			}
			root := parseTwiML(t, b.post(path, pinForm(sid, unknownCaller, unroutedTo, tc.digits), http.StatusOK))
			kind, arg, _ := strings.Cut(tc.want, ":")
			c, _ := b.call(sid)
			switch kind {
			case "join":
				checkJoin(t, root, arg)
				if c.TopicID != arg || c.State != roster.Routing {
					t.Errorf("stored call %q in topic %q; want routing in %q", c.State, c.TopicID, arg)
				}
			case "gather":
				checkGather(t, root, arg)
				if c.TopicID != "" {
					t.Errorf("a wrong PIN routed the call to %q", c.TopicID)
				}
			case "goodbye":
				checkGoodbye(t, root)
				if c.TopicID != "" {
					t.Errorf("a wrong PIN routed the call to %q", c.TopicID)
				}
			}
			if b.pub.len() != 0 {
				t.Error("the PIN flow published an event")
			}
		})
	}
}

// TestPINFlowThreeStrikes walks the whole IVR, following the action URLs Twilio would call.
func TestPINFlowThreeStrikes(t *testing.T) {
	b := newBridge(t)
	sid := callSID(21)
	root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, "+15005550009"), http.StatusOK))
	for i := 1; ; i++ {
		g, ok := root.find("Gather")
		if !ok {
			break
		}
		if i > 3 {
			t.Fatalf("asked for a PIN a %dth time", i)
		}
		action, _ := g.attr("action")
		path, ok := strings.CutPrefix(action, publicURL)
		if !ok {
			t.Fatalf("Gather action %q is not under the public URL", action)
		}
		root = parseTwiML(t, b.post(path, pinForm(sid, unknownCaller, "+15005550009", "999999"), http.StatusOK))
	}
	checkGoodbye(t, root)
}

// TestRoutingRepeated routes calls to two topics in turn through one bridge, whose join TwiML
// is built once per topic: every call must still join its own topic.
func TestRoutingRepeated(t *testing.T) {
	b := newBridge(t)
	for i, topic := range []string{topicA, topicB, topicA, topicB, topicA} {
		to := numA
		if topic == topicB {
			to = numB
		}
		root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(20+i), unknownCaller, to), http.StatusOK))
		checkJoin(t, root, topic)
	}
}
