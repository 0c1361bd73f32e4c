package e2e

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/twiliosim"
)

// dialOutEnv turns dial-out on: from Twilio's test number, to +1 and +44 numbers.
func dialOutEnv(extra ...string) map[string]string {
	env := map[string]string{"DIALIN_DIALOUT_FROM": "+15005550006", "DIALIN_DIALOUT_PREFIXES": "+1,+44", "DIALIN_DIALOUT_MAX_RINGING": "10"}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// dialOut asks for a dial-out to number and returns its call SID.
func (b *bridge) dialOut(number, body string) string {
	b.t.Helper()
	if body == "" {
		body = `{"to":"` + number + `"}`
	}
	sid, _ := b.mustAPI("POST", "/api/topics/"+topicA+"/parties", admin(), body, 201)["callSid"].(string)
	if !strings.HasPrefix(sid, "CA") {
		b.t.Fatalf("dial-out answered callSid %q", sid)
	}
	return sid
}

// TestDialOut: a dial-out goes to Twilio's Participants API on the conference's friendly
// name with the contract's parameters; the room sees it ringing (online, not connected, no
// audio, on the phone, named as asked), then connected when it joins, then its leaves.
func TestDialOut(t *testing.T) {
	b, sim := simBridge(t, dialOutEnv())
	sim.SetOutcome("+14155550199", twiliosim.Outcome{Result: "answer", After: 500 * time.Millisecond})
	c := subscriber(t, b, topicA, "websocket")
	sid := b.dialOut("", `{"to":"+14155550199","displayname":"Ann Lee"}`)

	reqs := sim.RequestsTo("POST", "/Conferences/"+topicA+"/Participants.json")
	if len(reqs) != 1 {
		t.Fatalf("%d participant creations on the friendly name; want 1", len(reqs))
	}
	f, pub := reqs[0].Form, b.env["DIALIN_PUBLIC_URL"]
	for k, want := range map[string]string{
		"From": "+15005550006", "To": "+14155550199", "Timeout": "30", "TimeLimit": "14400",
		"StatusCallback": pub + "/twilio/status", "ConferenceStatusCallback": pub + "/twilio/conference",
		"StartConferenceOnEnter": "true", "EndConferenceOnExit": "false",
	} {
		if f.Get(k) != want {
			t.Errorf("%s = %q; want %q", k, f.Get(k), want)
		}
	}
	if got := f["StatusCallbackEvent"]; !slices.Equal(got, []string{"initiated", "ringing", "answered", "completed"}) {
		t.Errorf("StatusCallbackEvent %q", got)
	}
	if got := strings.Join(f["ConferenceStatusCallbackEvent"], " "); got != "start end join leave mute hold" {
		t.Errorf("ConferenceStatusCallbackEvent %q; want a dial-in's", got)
	}

	e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline })
	ms := e.Content.MediaSession
	if ms.Connected || ms.Audio || !ms.Phone || e.Sender.DisplayName != "Ann Lee" || e.Sender.Type != "phone" || e.Content.Role != "guest" {
		t.Errorf("ringing: %s", e.Raw)
	}
	if strings.Contains(e.Raw, "4155550199") {
		t.Errorf("the ringing event shows the number: %s", e.Raw)
	}
	e = c.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline })
	if ms := e.Content.MediaSession; !ms.Connected || !ms.Audio || !ms.Phone || e.Sender.DisplayName != "Ann Lee" {
		t.Errorf("joined: %s", e.Raw)
	}
	var listed []modEvent
	json.Unmarshal([]byte(b.get("/api/topics/"+topicA+"/parties", admin()).Body), &listed)
	if len(listed) != 1 || listed[0].Sender.ID != sid || !listed[0].Content.MediaSession.Connected {
		t.Errorf("parties listed: %+v", listed)
	}

	// A number of the directory is named as the directory names it, with its role.
	known := b.dialOut(knownCaller, "")
	e = c.waitParty(known, func(e modEvent) bool { return e.Category == catOnline })
	if e.Sender.DisplayName != "John Smith" || e.Content.Role != "member" {
		t.Errorf("directory dial-out: %s", e.Raw)
	}
	sim.Hangup(sid)
	if e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catLeaves }); e.Content.Reason != "hung_up" {
		t.Errorf("leaves %s", e.Raw)
	}
	metrics := b.get("/metrics", "").Body
	if !strings.Contains(metrics, `dialin_moderation_actions_total{action="dial-out",result="ok"} 2`) {
		t.Error("dial-outs not counted")
	}
	if logs := b.LogsWritten(); strings.Contains(logs, "4155550199") || !strings.Contains(logs, `"action":"dial-out"`) {
		t.Error("the dial-out's audit line is missing or shows the number")
	}
}

// TestDialOutRingingLimit: dial-outs ringing count towards DIALIN_DIALOUT_MAX_RINGING from
// their 201 until they join or end; then another may ring.
func TestDialOutRingingLimit(t *testing.T) {
	b, sim := simBridge(t, dialOutEnv("DIALIN_DIALOUT_MAX_RINGING", "2"))
	sim.SetOutcome("+14155550101", twiliosim.Outcome{Result: "ring"})
	sim.SetOutcome("+14155550102", twiliosim.Outcome{Result: "ring"})
	c := subscriber(t, b, topicA, "websocket")
	one := b.dialOut("+14155550101", "")
	b.dialOut("+14155550102", "")
	checkError(t, b.apiCall("POST", "/api/topics/"+topicA+"/parties", admin(), `{"to":"+14155550103"}`), 429, "ringing")
	// Another topic has its own limit.
	if r := b.apiCall("POST", "/api/topics/"+topicB+"/parties", token("mod-b", "admin", topicB), `{"to":"+14155550103"}`); r.Status != 201 {
		t.Errorf("dial-out in topic B: %d %s", r.Status, r.Body)
	}
	c.waitParty(one, func(e modEvent) bool { return e.Category == catOnline })
	if err := sim.Answer(one); err != nil {
		t.Fatal(err)
	}
	c.waitParty(one, func(e modEvent) bool { return e.Content.MediaSession.Connected })
	b.dialOut("+14155550103", "")
	if n := len(sim.RequestsTo("POST", "/Participants.json")); n != 4 {
		t.Errorf("%d dial-outs reached Twilio; want 4", n)
	}
	if !strings.Contains(b.get("/metrics", "").Body, `dialin_moderation_actions_total{action="dial-out",result="too_many"} 1`) {
		t.Error("the refused dial-out is not counted")
	}
}

// TestLeaveReasons: every phone party's leaves says why: hung_up, removed (a dial-out still
// ringing), conference_ended, no_answer, busy, failed, canceled, and lost (found by
// reconciliation).
func TestLeaveReasons(t *testing.T) {
	b, sim := simBridge(t, dialOutEnv("DIALIN_RECONCILE_INTERVAL", "1s"))
	c := subscriber(t, b, topicA, "websocket")
	ringing := func(number string, o twiliosim.Outcome) string {
		sim.SetOutcome(number, o)
		sid := b.dialOut(number, "")
		c.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline && !e.Content.MediaSession.Connected })
		return sid
	}
	leaves := func(sid string) string {
		t.Helper()
		return c.waitParty(sid, func(e modEvent) bool { return e.Category == catLeaves }).Content.Reason
	}
	later := 300 * time.Millisecond
	cases := []struct {
		reason string
		run    func() string
	}{
		{"hung_up", func() string { sid := dialInSim(t, sim, c, "+14155550111"); sim.Hangup(sid); return sid }},
		{"busy", func() string { return ringing("+14155550112", twiliosim.Outcome{Result: "busy", After: later}) }},
		{"no_answer", func() string { return ringing("+14155550113", twiliosim.Outcome{Result: "no-answer", After: later}) }},
		{"failed", func() string { return ringing("+14155550114", twiliosim.Outcome{Result: "failed", After: later}) }},
		{"canceled", func() string {
			sid := ringing("+14155550115", twiliosim.Outcome{Result: "ring"})
			sim.Reject(sid, "canceled")
			return sid
		}},
		{"removed", func() string {
			sid := ringing("+14155550116", twiliosim.Outcome{Result: "ring"})
			b.mustAPI("DELETE", partyPath(topicA, sid), admin(), "", 202)
			return sid
		}},
		{"lost", func() string { sid := dialInSim(t, sim, c, "+14155550117"); sim.Vanish(sid); return sid }},
		{"conference_ended", func() string { sid := dialInSim(t, sim, c, "+14155550118"); sim.EndConference(topicA); return sid }},
	}
	for _, tc := range cases {
		sid := tc.run()
		if got := leaves(sid); got != tc.reason {
			t.Errorf("%s: leaves reason %q", tc.reason, got)
		}
	}
	if !strings.Contains(b.get("/metrics", "").Body, `dialin_moderation_actions_total{action="remove",result="ok"} 1`) {
		t.Error("removal of a ringing dial-out not counted")
	}
}

// speechEvents collects the events about sid for d, with when each arrived.
func speechEvents(c *client, sid string, d time.Duration) ([]modEvent, []time.Time) {
	var evs []modEvent
	var at []time.Time
	deadline := time.Now().Add(d)
	for {
		m, ok := c.next(time.Until(deadline))
		if !ok {
			return evs, at
		}
		var e modEvent
		if m.Type == "event" && json.Unmarshal(m.Data, &e) == nil && e.Sender.ID == sid {
			e.Raw = string(m.Data)
			evs, at = append(evs, e), append(at, time.Now())
		}
	}
}

// TestSpeaking: with DIALIN_SPEAKING every join path asks Twilio for the speaker event,
// events carry mediaSession.speaking, and of a burst of speech changes at most four per
// second reach the room, the last always.
func TestSpeaking(t *testing.T) {
	b, sim := simBridge(t, dialOutEnv("DIALIN_SPEAKING", "true"))
	c := subscriber(t, b, topicA, "websocket")
	sid, err := sim.DialIn(context.Background(), unknownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline })
	if e.Content.MediaSession.Speaking == nil || *e.Content.MediaSession.Speaking {
		t.Errorf("online without speaking false: %s", e.Raw)
	}
	out := b.dialOut("+14155550199", "")
	if got := strings.Join(sim.RequestsTo("POST", "/Participants.json")[0].Form["ConferenceStatusCallbackEvent"], " "); got != "start end join leave mute hold speaker" {
		t.Errorf("dial-out asks for %q", got)
	}
	c.waitParty(out, func(e modEvent) bool { return e.Content.MediaSession.Connected })

	// Twenty changes within about 200 ms, the last one "speaking".
	for i := range 20 {
		if err := sim.Speak(sid, i%2 == 1); err != nil {
			t.Fatal(err) // the conference did not ask for the speaker event
		}
		time.Sleep(10 * time.Millisecond)
	}
	// All twenty fall within one second: four reach the room at once, and the last state
	// when the second is over (the window itself is timed by presence's unit test).
	evs, at := speechEvents(c, sid, 2500*time.Millisecond)
	if len(evs) < 2 || len(evs) > 6 {
		t.Fatalf("%d speech events for 20 changes in about 200 ms; want 4 at once and the last later", len(evs))
	}
	if gap := at[len(at)-1].Sub(at[0]); gap < 500*time.Millisecond {
		t.Errorf("the last state came %v after the first; want it held back to the next second", gap)
	}
	last := evs[len(evs)-1]
	if last.Content.MediaSession.Speaking == nil || !*last.Content.MediaSession.Speaking {
		t.Errorf("last event %s; want speaking true", last.Raw)
	}
	sim.Hangup(sid)
	if e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catLeaves }); e.Content.MediaSession.Speaking == nil || *e.Content.MediaSession.Speaking {
		t.Errorf("leaves %s", e.Raw)
	}
}

// TestSpeakingOff: without DIALIN_SPEAKING speech callbacks get 204 and change nothing, and
// events carry no speaking.
func TestSpeakingOff(t *testing.T) {
	b, sim := simBridge(t, nil)
	c := subscriber(t, b, topicA, "websocket")
	sid := dialInSim(t, sim, c, unknownCaller)
	sim.Speak(sid, true)
	idle(t, sim)
	for _, cb := range sim.Delivered() {
		if strings.HasPrefix(cb.Event(), "participant-speech") {
			t.Errorf("Twilio sent %s: the conference asked for speech events", cb.Event())
		}
	}
	form := confForm("participant-speech-start", sim.Conference(topicA), topicA, 50, sid)
	b.mustPost("/twilio/conference", form, 204)
	c.expectNothing(quiet)
	var listed []json.RawMessage
	json.Unmarshal([]byte(b.get("/api/topics/"+topicA+"/parties", admin()).Body), &listed)
	if len(listed) != 1 || strings.Contains(string(listed[0]), "speaking") {
		t.Errorf("parties %s", listed)
	}
}

func idle(t *testing.T, sim *twiliosim.Sim) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sim.Idle(ctx)
}

// TestModeratePlatform: in platform mode the platform's rooms see every moderation event:
// a mute as Twilio reports it, a dial-out ringing then joined, the relayed party.removed and
// the leaves with its reason.
func TestModeratePlatform(t *testing.T) {
	sim := twiliosim.New(twiliosim.Options{AccountSID: accountID, AuthToken: authToken})
	api := httptest.NewServer(sim)
	t.Cleanup(func() { api.Close(); sim.Close() })
	cl := startCluster(t, nil, func(e map[string]string) {
		e["DIALIN_TWILIO_API_URL"] = api.URL
		for k, v := range dialOutEnv("DIALIN_SPEAKING", "true") {
			e[k] = v
		}
	})
	sim.SetBridgeURL(cl.bridge.env["DIALIN_PUBLIC_URL"])
	b, plat := cl.bridge, cl.plat[1]
	sid, err := sim.DialIn(context.Background(), unknownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	plat.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline && e.Content.MediaSession.Connected })
	b.mustAPI("PATCH", partyPath(topicA, sid), admin(), `{"muted":true}`, 202)
	plat.waitParty(sid, func(e modEvent) bool { return e.Content.MediaSession.SelfMuted })
	sim.Speak(sid, true)
	plat.waitParty(sid, func(e modEvent) bool { s := e.Content.MediaSession.Speaking; return s != nil && *s })

	sim.SetOutcome("+14155550199", twiliosim.Outcome{Result: "answer", After: 300 * time.Millisecond})
	out := b.dialOut("+14155550199", `{"to":"+14155550199","displayname":"Ann Lee"}`)
	e := plat.waitParty(out, func(e modEvent) bool { return e.Category == catOnline })
	if e.Content.MediaSession.Connected || e.Sender.DisplayName != "Ann Lee" {
		t.Errorf("platform's first event of the dial-out: %s", e.Raw)
	}
	plat.waitParty(out, func(e modEvent) bool { return e.Content.MediaSession.Connected })

	b.mustAPI("DELETE", partyPath(topicA, out), admin(), "", 202)
	var rm, left modEvent
	for rm.ID == "" || left.ID == "" {
		e := plat.waitParty(out, func(e modEvent) bool { return e.Category == catRemoved || e.Category == catLeaves })
		if e.Category == catRemoved {
			rm = e
		} else {
			left = e
		}
	}
	if rm.Sender.ID != "mod-1" || left.Content.Reason != "removed" {
		t.Errorf("platform saw %s and %s", rm.Raw, left.Raw)
	}
	// The party.removed the bridge published is not taken back as a request to hang up again.
	if n := len(sim.RequestsTo("POST", "/Calls/"+out+".json")); n != 1 {
		t.Errorf("%d hang-ups of the dial-out; want 1", n)
	}
}
