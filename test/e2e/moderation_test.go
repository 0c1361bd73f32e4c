package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
	"github.com/dialin-bridge/dialin-bridge/twiliosim"
)

// Moderation and dial-out (contract §6), against the Twilio stand-in (twiliosim): it answers
// the bridge's REST calls as Twilio does and sends back the signed callbacks Twilio would.

// simBridge starts a Twilio stand-in and a bridge in production mode that uses it; env adds
// to the bridge's environment.
func simBridge(t *testing.T, env map[string]string) (*bridge, *twiliosim.Sim) {
	t.Helper()
	sim := twiliosim.New(twiliosim.Options{AccountSID: accountID, AuthToken: authToken, PageSize: 2})
	api := httptest.NewServer(sim)
	t.Cleanup(func() { api.Close(); sim.Close() })
	e := prodEnv(t, nil)
	e["DIALIN_TWILIO_API_URL"] = api.URL
	for k, v := range env {
		e[k] = v
	}
	b := startBridge(t, e)
	sim.SetBridgeURL(b.env["DIALIN_PUBLIC_URL"])
	return b, sim
}

// dialInSim places a call from from to topic A's number through the stand-in and waits until
// c sees it online.
func dialInSim(t *testing.T, sim *twiliosim.Sim, c *client, from string) string {
	t.Helper()
	sid, err := sim.DialIn(context.Background(), from, numA)
	if err != nil {
		t.Fatal(err)
	}
	c.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline && e.Content.MediaSession.Connected })
	return sid
}

const (
	catOnline  = "app.event.presence.party.online"
	catLeaves  = "app.event.presence.party.leaves"
	catRemoved = "party.removed"
)

// modEvent is a PRESENCE_EVENT_RESPONSE with what §6 adds: content.reason and
// mediaSession.speaking.
type modEvent struct {
	ID       string `json:"_id"`
	Category string `json:"category"`
	TopicID  string `json:"topicId"`
	Sender   struct {
		ID          string `json:"_id"`
		Type        string `json:"type"`
		DisplayName string `json:"displayname"`
	} `json:"sender"`
	Content struct {
		Role         string `json:"role"`
		Reason       string `json:"reason"`
		MediaSession struct {
			Audio     bool  `json:"audio"`
			Connected bool  `json:"connected"`
			SelfMuted bool  `json:"selfMuted"`
			Phone     bool  `json:"phone"`
			Speaking  *bool `json:"speaking"`
		} `json:"mediaSession"`
		Attendee struct {
			AttendeeType string `json:"attendeeType"`
			Attendee     string `json:"attendee"`
		} `json:"attendee"`
	} `json:"content"`
	Raw string `json:"-"`
}

// waitParty returns the next presence event about call sid for which ok holds, skipping the
// others; it fails the test if none comes within eventWait.
func (c *client) waitParty(sid string, ok func(modEvent) bool) modEvent {
	c.t.Helper()
	deadline := time.Now().Add(eventWait)
	var seen []string
	for time.Now().Before(deadline) {
		m, more := c.next(time.Until(deadline))
		if !more {
			break
		}
		if m.Type != "event" || m.Name != "PRESENCE_EVENT_RESPONSE" {
			continue
		}
		var e modEvent
		if err := json.Unmarshal(m.Data, &e); err != nil {
			c.t.Fatalf("decode %s: %v", m.Data, err)
		}
		e.Raw = string(m.Data)
		if e.Sender.ID == sid || e.Content.Attendee.Attendee == sid {
			if ok(e) {
				return e
			}
			seen = append(seen, e.Raw)
		}
	}
	c.t.Fatalf("no such event about %s within %v; saw %v", sid, eventWait, seen)
	return modEvent{}
}

// apiCall sends a JSON request to the bridge's API with a bearer token ("" for none).
func (b *bridge) apiCall(method, path, tok, body string) response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: string(rb), Header: resp.Header}
}

// mustAPI sends an API request and fails unless it is answered want; it returns the body
// decoded.
func (b *bridge) mustAPI(method, path, tok, body string, want int) map[string]any {
	b.t.Helper()
	r := b.apiCall(method, path, tok, body)
	if r.Status != want {
		b.t.Fatalf("%s %s %s: %d %s; want %d", method, path, body, r.Status, r.Body, want)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.Body), &out); err != nil {
		b.t.Fatalf("%s %s: body %q is not a JSON object", method, path, r.Body)
	}
	return out
}

func partyPath(topic, sid string) string { return "/api/topics/" + topic + "/parties/" + sid }

// admin is a token of an admin of topic A.
func admin() string { return token("mod-1", "admin", topicA) }

// TestModerateMuteHoldRemove: an admin mutes, holds, unmutes and unholds a dial-in over the
// API; each request reaches Twilio as a participant update, and the room sees each change
// only when Twilio reports it. A removal hangs the call up, relays party.removed with the
// admin as sender, and the leaves says removed. Every action is logged with the token's sub
// and counted.
func TestModerateMuteHoldRemove(t *testing.T) {
	b, sim := simBridge(t, nil)
	c := subscriber(t, b, topicA, "websocket")
	sid := dialInSim(t, sim, c, knownCaller)
	conf := sim.Conference(topicA)

	got := b.mustAPI("PATCH", partyPath(topicA, sid), admin(), `{"muted":true}`, 202)
	if got["callSid"] != sid || got["muted"] != true || got["hold"] != nil {
		t.Errorf("PATCH answer %v", got)
	}
	e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline })
	if !e.Content.MediaSession.SelfMuted || !e.Content.MediaSession.Audio {
		t.Errorf("after mute: %s", e.Raw)
	}
	reqs := sim.RequestsTo("POST", "/Conferences/"+conf+"/Participants/"+sid+".json")
	if len(reqs) != 1 || reqs[0].Form.Get("Muted") != "true" || reqs[0].Form.Get("Hold") != "" {
		t.Fatalf("Twilio got %+v; want one participant update with Muted=true", reqs)
	}
	b.mustAPI("PATCH", partyPath(topicA, sid), admin(), `{"hold":true}`, 202)
	e = c.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline })
	if !e.Content.MediaSession.SelfMuted || e.Content.MediaSession.Audio {
		t.Errorf("after hold: %s", e.Raw)
	}
	b.mustAPI("PATCH", partyPath(topicA, sid), admin(), `{"muted":false,"hold":false}`, 202)
	c.waitParty(sid, func(e modEvent) bool {
		return e.Category == catOnline && !e.Content.MediaSession.SelfMuted && e.Content.MediaSession.Audio
	})

	got = b.mustAPI("DELETE", partyPath(topicA, sid), admin(), "", 202)
	if got["callSid"] != sid {
		t.Errorf("DELETE answer %v", got)
	}
	// The leaves may come before the relayed party.removed: Twilio's callbacks race with its
	// answer to the hang-up.
	var rm, left modEvent
	for rm.ID == "" || left.ID == "" {
		e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catRemoved || e.Category == catLeaves })
		if e.Category == catRemoved {
			rm = e
		} else {
			left = e
		}
	}
	if rm.Sender.ID != "mod-1" || rm.Sender.Type != "user" || rm.TopicID != topicA || rm.Content.Attendee.Attendee != sid {
		t.Errorf("party.removed %s; want the admin as sender, naming the call", rm.Raw)
	}
	if left.Content.Reason != "removed" {
		t.Errorf("leaves %s; want reason removed", left.Raw)
	}
	if n := len(sim.RequestsTo("POST", "/Calls/"+sid+".json")); n != 1 {
		t.Errorf("%d hang-ups; want 1", n)
	}
	// A second removal of the party is a 404: it is gone.
	b.mustAPI("DELETE", partyPath(topicA, sid), admin(), "", 404)

	logs := b.LogsWritten()
	for _, action := range []string{"mute", "hold", "unmute", "unhold", "remove"} {
		if !strings.Contains(logs, `"action":"`+action+`"`) || !strings.Contains(logs, `"sub":"mod-1"`) {
			t.Errorf("no audit line of %s by mod-1", action)
		}
	}
	metrics := b.get("/metrics", "").Body
	for _, line := range []string{
		`dialin_moderation_actions_total{action="mute",result="ok"} 1`,
		`dialin_moderation_actions_total{action="remove",result="ok"} 1`,
		`dialin_moderation_actions_total{action="remove",result="not_found"} 1`,
		`dialin_moderation_actions_total{action="unhold",result="ok"} 1`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if strings.Contains(logs, knownCaller) {
		t.Error("a caller's full number is in the logs")
	}
}

// TestModerateMuteAll: mute all mutes every connected party whose state differs, except
// those listed; those Twilio refuses are named in failed.
func TestModerateMuteAll(t *testing.T) {
	b, sim := simBridge(t, nil)
	c := subscriber(t, b, topicA, "websocket")
	one := dialInSim(t, sim, c, "+14155550101")
	two := dialInSim(t, sim, c, "+14155550102")
	three := dialInSim(t, sim, c, "+14155550103")
	four := dialInSim(t, sim, c, "+14155550104")
	b.mustAPI("PATCH", partyPath(topicA, two), admin(), `{"muted":true}`, 202)
	c.waitParty(two, func(e modEvent) bool { return e.Content.MediaSession.SelfMuted })
	sim.SetFault(func(r twiliosim.Request) *twiliosim.Error {
		if strings.HasSuffix(r.Path, "/Participants/"+four+".json") {
			return &twiliosim.Error{Status: 400, Code: 20001, Message: "Participant is not in a state to be muted"}
		}
		return nil
	})
	got := b.mustAPI("POST", "/api/topics/"+topicA+"/mute", admin(), `{"muted":true,"except":["`+three+`"]}`, 202)
	req, _ := json.Marshal(got["requested"])
	fail, _ := json.Marshal(got["failed"])
	if string(req) != `["`+one+`"]` {
		t.Errorf("requested %s; want only %s (two is muted, three excepted, four refused)", req, one)
	}
	if !strings.Contains(string(fail), four) || !strings.Contains(string(fail), "Participant is not in a state to be muted") {
		t.Errorf("failed %s; want %s with Twilio's message", fail, four)
	}
	c.waitParty(one, func(e modEvent) bool { return e.Content.MediaSession.SelfMuted })
	if _, _, _, ok := sim.Participant(three); !ok {
		t.Fatal("three left")
	}
	if muted, _, _, _ := sim.Participant(three); muted {
		t.Error("the excepted party was muted")
	}
}

// TestModerateErrors: every refusal is the contract's status with {"error": "<one line>"},
// and changes nothing at Twilio.
func TestModerateErrors(t *testing.T) {
	b, sim := simBridge(t, map[string]string{
		"DIALIN_DIALOUT_FROM": "+15005550006", "DIALIN_DIALOUT_PREFIXES": "+1", "DIALIN_DIALOUT_MAX_RINGING": "1",
	})
	sim.SetOutcome("+14155550199", twiliosim.Outcome{Result: "ring"})
	c := subscriber(t, b, topicA, "websocket")
	sid := dialInSim(t, sim, c, knownCaller)
	ringing := b.mustAPI("POST", "/api/topics/"+topicA+"/parties", admin(), `{"to":"+14155550199"}`, 201)["callSid"].(string)
	c.waitParty(ringing, func(e modEvent) bool { return e.Category == catOnline })
	before := len(sim.Requests())

	tampered := token("mod-1", "admin", topicA)
	tampered = tampered[:len(tampered)-2] + "xx"
	expired := jwttest.HS256(jwtSecret, map[string]any{"sub": "mod-1", "role": "admin", "topics": []string{topicA},
		"exp": time.Now().Add(-time.Minute).Unix()})
	tests := []struct {
		name, method, path, tok, body string
		status                        int
		says                          string
	}{
		{"no token", "PATCH", partyPath(topicA, sid), "", `{"muted":true}`, 401, "token"},
		{"bad token", "PATCH", partyPath(topicA, sid), tampered, `{"muted":true}`, 401, "token"},
		{"expired token", "POST", "/api/topics/" + topicA + "/mute", expired, `{"muted":true}`, 401, "token"},
		{"topic not granted", "PATCH", partyPath(topicA, sid), token("mod-2", "admin", topicB), `{"muted":true}`, 403, "grant"},
		{"not admin", "DELETE", partyPath(topicA, sid), token("mem", "member", topicA), "", 403, "admin"},
		{"unknown field", "PATCH", partyPath(topicA, sid), admin(), `{"muted":true,"volume":3}`, 400, "volume"},
		{"wrong type", "PATCH", partyPath(topicA, sid), admin(), `{"muted":"yes"}`, 400, "muted"},
		{"nothing to change", "PATCH", partyPath(topicA, sid), admin(), `{}`, 400, "muted or hold"},
		{"not JSON", "POST", "/api/topics/" + topicA + "/mute", admin(), `muted`, 400, "JSON"},
		{"mute all without muted", "POST", "/api/topics/" + topicA + "/mute", admin(), `{"except":[]}`, 400, "muted"},
		{"body too large", "POST", "/api/topics/" + topicA + "/mute", admin(), `{"muted":true,"except":["` + strings.Repeat("C", 17<<10) + `"]}`, 400, "bytes"},
		{"malformed call SID", "PATCH", partyPath(topicA, "CA123"), admin(), `{"muted":true}`, 400, "SID"},
		{"unknown party", "PATCH", partyPath(topicA, callSID(424242)), admin(), `{"muted":true}`, 404, "no such phone party"},
		{"party of another topic", "DELETE", partyPath(topicB, sid), token("mod-3", "admin", topicB), "", 404, "no such phone party"},
		{"ringing cannot be muted", "PATCH", partyPath(topicA, ringing), admin(), `{"muted":true}`, 409, "not connected"},
		{"dial-out not E.164", "POST", "/api/topics/" + topicA + "/parties", admin(), `{"to":"4155550123"}`, 400, "E.164"},
		{"dial-out without to", "POST", "/api/topics/" + topicA + "/parties", admin(), `{"displayname":"Ann"}`, 400, "to"},
		{"dial-out name too long", "POST", "/api/topics/" + topicA + "/parties", admin(), `{"to":"+14155550123","displayname":"` + strings.Repeat("é", 65) + `"}`, 400, "displayname"},
		{"dial-out prefix", "POST", "/api/topics/" + topicA + "/parties", admin(), `{"to":"+442071838750"}`, 403, "not allowed"},
		{"dial-out too many ringing", "POST", "/api/topics/" + topicA + "/parties", admin(), `{"to":"+14155550123"}`, 429, "ringing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := b.apiCall(tc.method, tc.path, tc.tok, tc.body)
			checkError(t, r, tc.status, tc.says)
		})
	}
	if n := len(sim.Requests()); n != before {
		t.Errorf("refused requests reached Twilio: %d requests after %d", n, before)
	}

	// Twilio refuses: 502 naming Twilio's message; the room sees nothing change.
	sim.SetFault(func(r twiliosim.Request) *twiliosim.Error {
		return &twiliosim.Error{Status: 400, Code: 21220, Message: "Call is not in a valid state"}
	})
	checkError(t, b.apiCall("PATCH", partyPath(topicA, sid), admin(), `{"hold":true}`), 502, "Call is not in a valid state")
	checkError(t, b.apiCall("DELETE", partyPath(topicA, sid), admin(), ""), 502, "Call is not in a valid state")
	// Twilio does not answer in time.
	sim.SetFault(nil)
	sim.SetDelay(20 * time.Second)
	start := time.Now()
	checkError(t, b.apiCall("PATCH", partyPath(topicA, sid), admin(), `{"hold":true}`), 502, "")
	if took := time.Since(start); took > 16*time.Second {
		t.Errorf("a Twilio that does not answer held the request %v", took)
	}
	sim.SetDelay(0)
	c.expectNothing(quiet)
	// The refused removal is not a removal: when the caller hangs up, the leaves says hung_up.
	sim.Hangup(sid)
	if e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catLeaves }); e.Content.Reason != "hung_up" {
		t.Errorf("leaves after a failed removal: %s", e.Raw)
	}
}

// checkError asserts an error answer: the status, and a body {"error": "<one line>"} that
// says says.
func checkError(t *testing.T, r response, status int, says string) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || len(body) != 1 {
		t.Errorf("status %d body %q; want {\"error\": …}", r.Status, r.Body)
		return
	}
	msg, _ := body["error"].(string)
	if r.Status != status || msg == "" || strings.Contains(msg, "\n") || !strings.Contains(msg, says) {
		t.Errorf("status %d error %q; want %d saying %q", r.Status, msg, status, says)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestDialOutNotConfigured: without DIALIN_DIALOUT_FROM every dial-out gets 501 before
// anything else is checked, a bad body or no token included.
func TestDialOutNotConfigured(t *testing.T) {
	b, sim := simBridge(t, map[string]string{"DIALIN_DIALOUT_PREFIXES": "+1"})
	for _, tc := range []struct{ tok, body string }{
		{admin(), `{"to":"+14155550123"}`},
		{"", `{"to":"+14155550123"}`},
		{admin(), `{"to":"nonsense","x":1}`},
	} {
		checkError(t, b.apiCall("POST", "/api/topics/"+topicA+"/parties", tc.tok, tc.body), 501, "not configured")
	}
	if n := len(sim.RequestsTo("POST", "/Participants.json")); n != 0 {
		t.Errorf("%d dial-outs reached Twilio", n)
	}
}

// TestRemoveTwiceOneHangup: a removal asked for while another is under way (over the API or
// a room client's party.removed) makes no second Twilio call, and the leaves says removed.
func TestRemoveTwiceOneHangup(t *testing.T) {
	b, sim := simBridge(t, nil)
	c := subscriber(t, b, topicA, "websocket")
	sid := dialInSim(t, sim, c, knownCaller)
	sim.SetDelay(time.Second) // Twilio is slow to answer the first hang-up
	first := make(chan response, 1)
	go func() { first <- b.apiCall("DELETE", partyPath(topicA, sid), admin(), "") }()
	deadline := time.Now().Add(eventWait)
	for len(sim.RequestsTo("POST", "/Calls/"+sid+".json")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := b.apiCall("DELETE", partyPath(topicA, sid), admin(), ""); r.Status != 202 {
		t.Errorf("second removal: %d %s", r.Status, r.Body)
	}
	if r := <-first; r.Status != 202 {
		t.Errorf("first removal: %d %s", r.Status, r.Body)
	}
	sim.SetDelay(0)
	if e := c.waitParty(sid, func(e modEvent) bool { return e.Category == catLeaves }); e.Content.Reason != "removed" {
		t.Errorf("leaves %s", e.Raw)
	}
	if n := len(sim.RequestsTo("POST", "/Calls/"+sid+".json")); n != 1 {
		t.Errorf("%d hang-ups; want 1", n)
	}
}
