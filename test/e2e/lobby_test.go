package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/twiliosim"
)

// What callers hear (contract §7): the lobby admins admit callers from, the roll call, and
// the PIN lockout, with the Twilio stand-in and real socket.io-client 2.x admins and members.

const adminCaller = "+14155550199" // a directory admin

// callersRooms: topic A has a lobby, topic B a roll call.
const callersRooms = `{
  "topics": [
    { "topicId": "` + topicA + `", "pin": "` + pinA + `", "numbers": ["` + numA + `"],
      "name": "Weekly sync", "lobby": true },
    { "topicId": "` + topicB + `", "pin": "` + pinB + `", "numbers": ["` + numB + `"],
      "name": "Design review", "rollCall": true }
  ],
  "callers": [
    { "number": "` + knownCaller + `", "username": "jsmith@fakeemail.com", "displayname": "John Smith", "role": "member" },
    { "number": "` + adminCaller + `", "username": "boss@fakeemail.com", "displayname": "Ada Boss", "role": "admin" }
  ]
}`

func callersEnv(t *testing.T) map[string]string {
	return map[string]string{"DIALIN_ROOMS_FILE": writeFile(t, t.TempDir(), "rooms.json", callersRooms)}
}

// lobbyEvent is a LOBBY_EVENT payload.
type lobbyEvent struct {
	TopicID     string `json:"topicId"`
	CallSID     string `json:"callSid"`
	DisplayName string `json:"displayname"`
	State       string `json:"state"`
	Since       string `json:"since"`
}

// waitLobby returns the next LOBBY_EVENT about sid, skipping other events.
func (c *client) waitLobby(sid string) lobbyEvent {
	c.t.Helper()
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		m, ok := c.next(time.Until(deadline))
		if !ok {
			break
		}
		if m.Type != "event" || m.Name != "LOBBY_EVENT" {
			continue
		}
		var ev lobbyEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			c.t.Fatalf("decode LOBBY_EVENT %s: %v", m.Data, err)
		}
		if ev.CallSID == sid {
			if _, err := time.Parse(time.RFC3339, ev.Since); err != nil {
				c.t.Errorf("LOBBY_EVENT since %q is not RFC 3339", ev.Since)
			}
			return ev
		}
	}
	c.t.Fatalf("no LOBBY_EVENT about %s within %v", sid, eventWait)
	return lobbyEvent{}
}

// awaitAll reads events until each of want has matched one, in any order.
func (c *client) awaitAll(want ...func(msg) bool) {
	c.t.Helper()
	matched := make([]bool, len(want))
	left := len(want)
	deadline := time.Now().Add(eventWait)
	var seen []string
	for left > 0 && time.Now().Before(deadline) {
		m, ok := c.next(time.Until(deadline))
		if !ok {
			break
		}
		if m.Type != "event" {
			continue
		}
		seen = append(seen, m.Name+" "+string(m.Data))
		for i, w := range want {
			if !matched[i] && w(m) {
				matched[i] = true
				left--
				break
			}
		}
	}
	if left > 0 {
		c.t.Fatalf("%d expected events did not come within %v; saw %v", left, eventWait, seen)
	}
}

// drain returns every event a client gets within d.
func (c *client) drain(d time.Duration) []msg {
	var out []msg
	deadline := time.Now().Add(d)
	for {
		m, ok := c.next(time.Until(deadline))
		if !ok {
			return out
		}
		if m.Type == "event" {
			out = append(out, m)
		}
	}
}

// lobby lists the callers waiting in topic's lobby.
func (b *bridge) lobby(tok, topic string) []map[string]string {
	b.t.Helper()
	r := b.apiCall("GET", "/api/topics/"+topic+"/lobby", tok, "")
	if r.Status != 200 {
		b.t.Fatalf("GET lobby: %d %s", r.Status, r.Body)
	}
	var out []map[string]string
	if err := json.Unmarshal([]byte(r.Body), &out); err != nil {
		b.t.Fatalf("lobby %s: %v", r.Body, err)
	}
	return out
}

func waiting(list []map[string]string, sid string) bool {
	for _, w := range list {
		if w["callSid"] == sid {
			return true
		}
	}
	return false
}

// TestLobbyAdmitDeny: callers of a topic with a lobby wait; the topic's admins (and nobody
// else) see them come; one admitted joins and appears online, one denied never appears.
func TestLobbyAdmitDeny(t *testing.T) {
	t.Parallel()
	b, sim := simBridge(t, callersEnv(t))
	adminTok := token("alice", "admin", topicA)
	admin := connect(t, b, adminTok, "websocket")
	admin.connected()
	admin.subscribe(topicA)
	memberTok := token("mo", "member", topicA)
	member := connect(t, b, memberTok, "polling")
	member.connected()
	member.subscribe(topicA)

	ctx := context.Background()
	first, err := sim.DialIn(ctx, unknownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	ev := admin.waitLobby(first)
	if ev.State != "waiting" || ev.TopicID != topicA || ev.DisplayName == "" || strings.Contains(ev.DisplayName, "4155550123") {
		t.Errorf("LOBBY_EVENT %+v; want waiting in %s, masked", ev, topicA)
	}
	if st := sim.CallStatus(first); st != "in-progress" {
		t.Errorf("waiting call %s; want in-progress (music, then a redirect)", st)
	}
	if !waiting(b.lobby(adminTok, topicA), first) {
		t.Fatal("the waiting caller is not in GET lobby")
	}
	// The lobby's routes follow §6: admins only.
	if r := b.apiCall("GET", "/api/topics/"+topicA+"/lobby", memberTok, ""); r.Status != 403 || !strings.Contains(r.Body, `"error"`) {
		t.Errorf("member GET lobby: %d %s; want 403 {error}", r.Status, r.Body)
	}
	if r := b.apiCall("GET", "/api/topics/"+topicA+"/lobby", "", ""); r.Status != 401 {
		t.Errorf("GET lobby without a token: %d", r.Status)
	}
	path := "/api/topics/" + topicA + "/lobby/" + first
	if r := b.apiCall("POST", path, memberTok, `{"admit":true}`); r.Status != 403 {
		t.Errorf("member admit: %d %s; want 403", r.Status, r.Body)
	}
	if r := b.apiCall("POST", path, adminTok, `{"admit":"yes"}`); r.Status != 400 {
		t.Errorf("admit with a string: %d %s; want 400", r.Status, r.Body)
	}
	if r := b.apiCall("POST", "/api/topics/"+topicA+"/lobby/"+callSID(999), adminTok, `{"admit":true}`); r.Status != 404 {
		t.Errorf("admit of a caller not waiting: %d %s; want 404", r.Status, r.Body)
	}
	// The caller's redirect comes back while it waits: the music again.
	if err := sim.FollowRedirect(ctx, first); err != nil {
		t.Fatal(err)
	}

	// Admit: Twilio moves the call into the conference, and it joins as any dial-in.
	got := b.mustAPI("POST", path, adminTok, `{"admit":true}`, 202)
	if got["callSid"] != first {
		t.Errorf("admit answered %v", got)
	}
	moved := sim.RequestsTo("POST", "/Calls/"+first+".json")
	if len(moved) != 1 || !strings.Contains(moved[0].Form.Get("Twiml"), "<Conference") {
		t.Fatalf("Calls update %+v; want Twiml with <Dial><Conference>", moved)
	}
	// The admin sees it admitted and online (in either order: its join may come first).
	online := func(m msg) bool {
		var e modEvent
		return m.Name == "PRESENCE_EVENT_RESPONSE" && json.Unmarshal(m.Data, &e) == nil && e.Sender.ID == first &&
			e.Category == catOnline && e.Content.MediaSession.Connected
	}
	admitted := func(m msg) bool {
		var ev lobbyEvent
		return m.Name == "LOBBY_EVENT" && json.Unmarshal(m.Data, &ev) == nil && ev.CallSID == first && ev.State == "admitted"
	}
	admin.awaitAll(online, admitted)
	member.awaitAll(online)
	if r := b.apiCall("POST", path, adminTok, `{"admit":false}`); r.Status != 404 {
		t.Errorf("deny of a caller already admitted: %d %s; want 404", r.Status, r.Body)
	}

	// Deny: the caller hears so and is hung up; it never appears, and no leaves is sent.
	second, err := sim.DialIn(ctx, knownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	if ev := admin.waitLobby(second); ev.State != "waiting" || ev.DisplayName != "John Smith" {
		t.Errorf("LOBBY_EVENT %+v; want John Smith waiting", ev)
	}
	b.mustAPI("POST", "/api/topics/"+topicA+"/lobby/"+second, adminTok, `{"admit":false}`, 202)
	if ev := admin.waitLobby(second); ev.State != "denied" {
		t.Errorf("LOBBY_EVENT %+v; want denied", ev)
	}
	deadline := time.Now().Add(eventWait)
	for sim.CallStatus(second) != "completed" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := sim.CallStatus(second); st != "completed" {
		t.Errorf("denied call %s; want completed", st)
	}
	denyTwiML := sim.RequestsTo("POST", "/Calls/"+second+".json")
	if len(denyTwiML) != 1 || !strings.Contains(denyTwiML[0].Form.Get("Twiml"), "<Hangup") {
		t.Errorf("deny: %+v; want Twiml ending with <Hangup/>", denyTwiML)
	}
	// A directory admin skips the lobby.
	boss, err := sim.DialIn(ctx, adminCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	member.waitParty(boss, func(e modEvent) bool { return e.Category == catOnline })

	// Nobody saw the denied caller; the member never saw a LOBBY_EVENT.
	for name, c := range map[string]*client{"admin": admin, "member": member} {
		for _, m := range c.drain(time.Second) {
			if strings.Contains(string(m.Data), second) && m.Name == "PRESENCE_EVENT_RESPONSE" {
				t.Errorf("%s saw the denied caller: %s", name, m.Data)
			}
			if name == "member" && m.Name == "LOBBY_EVENT" {
				t.Errorf("a member saw %s", m.Data)
			}
		}
	}
	if waiting(b.lobby(adminTok, topicA), second) || waiting(b.lobby(adminTok, topicA), first) {
		t.Error("GET lobby still lists a caller decided on")
	}
	logs := b.LogsWritten()
	for _, action := range []string{`"action":"admit"`, `"action":"deny"`} {
		if !strings.Contains(logs, action) {
			t.Errorf("no audit line with %s", action)
		}
	}
	if strings.Contains(logs, "4155550123") {
		t.Error("a log line holds a caller's full number")
	}
}

// TestLobbyMembersNeverSeeLobbyEvent: a member subscribed before any caller, through both
// transports, gets no LOBBY_EVENT for a caller that waits and hangs up.
func TestLobbyMembersNeverSeeLobbyEvent(t *testing.T) {
	t.Parallel()
	b, sim := simBridge(t, callersEnv(t))
	admin := connect(t, b, token("alice", "admin", topicA), "polling")
	admin.connected()
	admin.subscribe(topicA)
	var members []*client
	for i, tr := range []string{"websocket", "polling"} {
		m := connect(t, b, token(fmt.Sprintf("m%d", i), "member", topicA), tr)
		m.connected()
		m.subscribe(topicA)
		members = append(members, m)
	}
	guest := connect(t, b, token("g", "guest", topicA), "websocket")
	guest.connected()
	guest.subscribe(topicA)
	sid, err := sim.DialIn(context.Background(), unknownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	admin.waitLobby(sid)
	if err := sim.Hangup(sid); err != nil {
		t.Fatal(err)
	}
	if ev := admin.waitLobby(sid); ev.State != "left" {
		t.Errorf("LOBBY_EVENT %+v; want left", ev)
	}
	for _, m := range append(members, guest) {
		for _, e := range m.drain(quiet) {
			t.Errorf("a non-admin got %s %s", e.Name, e.Data)
		}
	}
}

// TestLobbySurvivesKill9: waiting callers survive kill -9; one who hung up meanwhile leaves
// the lobby at reconciliation, the other is still waiting, hears the music again and can be
// admitted.
func TestLobbySurvivesKill9(t *testing.T) {
	t.Parallel()
	env := callersEnv(t)
	env["DIALIN_RECONCILE_INTERVAL"] = "1s"
	b, sim := simBridge(t, env)
	adminTok := token("alice", "admin", topicA)
	ctx := context.Background()
	stays, err := sim.DialIn(ctx, unknownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	goes, err := sim.DialIn(ctx, knownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	if l := b.lobby(adminTok, topicA); !waiting(l, stays) || !waiting(l, goes) {
		t.Fatalf("lobby %v", l)
	}
	b.stop(syscall.SIGKILL)
	if err := sim.Vanish(goes); err != nil { // it hangs up while the bridge is down
		t.Fatal(err)
	}
	b.restart()
	deadline := time.Now().Add(eventWait)
	for waiting(b.lobby(adminTok, topicA), goes) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	l := b.lobby(adminTok, topicA)
	if waiting(l, goes) {
		t.Errorf("a caller who hung up while the bridge was down is still in the lobby: %v", l)
	}
	if !waiting(l, stays) {
		t.Fatalf("the waiting caller was lost in the kill -9: %v", l)
	}
	if err := sim.FollowRedirect(ctx, stays); err != nil {
		t.Fatal(err)
	}
	if st := sim.CallStatus(stays); st != "in-progress" {
		t.Fatalf("after its redirect the waiting call is %s", st)
	}
	member := subscriber(t, b, topicA, "websocket")
	b.mustAPI("POST", "/api/topics/"+topicA+"/lobby/"+stays, adminTok, `{"admit":true}`, 202)
	member.waitParty(stays, func(e modEvent) bool { return e.Category == catOnline && e.Content.MediaSession.Connected })
}

// TestLobbyTimeout: a caller nobody lets in is told so and hung up after DIALIN_LOBBY_TIMEOUT.
func TestLobbyTimeout(t *testing.T) {
	t.Parallel()
	env := callersEnv(t)
	env["DIALIN_LOBBY_TIMEOUT"] = "2s"
	b, sim := simBridge(t, env)
	admin := connect(t, b, token("alice", "admin", topicA), "websocket")
	admin.connected()
	admin.subscribe(topicA)
	sid, err := sim.DialIn(context.Background(), unknownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	admin.waitLobby(sid)
	if ev := admin.waitLobby(sid); ev.State != "left" {
		t.Errorf("LOBBY_EVENT %+v; want left", ev)
	}
	deadline := time.Now().Add(eventWait)
	for sim.CallStatus(sid) != "completed" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := sim.CallStatus(sid); st != "completed" {
		t.Fatalf("timed-out call %s; want completed", st)
	}
	moved := sim.RequestsTo("POST", "/Calls/"+sid+".json")
	if len(moved) != 1 || !strings.Contains(moved[0].Form.Get("Twiml"), "Nobody has let you in") {
		t.Errorf("timeout: %+v", moved)
	}
}

// spokenTwiML is a TwiML document's verbs in order.
type spokenTwiML struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
	} `xml:",any"`
}

func (x spokenTwiML) says() []string {
	var out []string
	for _, v := range x.Verbs {
		if v.XMLName.Local == "Say" {
			out = append(out, v.Text)
		}
	}
	return out
}

func incomingTwiML(t *testing.T, b *bridge, sid, from, to string) spokenTwiML {
	t.Helper()
	r := b.mustPost("/twilio/voice", voiceForm(sid, from, to), 200)
	var x spokenTwiML
	if err := xml.Unmarshal([]byte(r.Body), &x); err != nil {
		t.Fatalf("TwiML %q: %v", r.Body, err)
	}
	return x
}

// TestRollCall: a caller of a topic with a roll call hears who is there: the web parties
// online through the bridge's socket (by the names their tokens give) and the directory's
// phone callers by name, the others counted; a web party that drops is no longer heard.
func TestRollCall(t *testing.T) {
	t.Parallel()
	b, sim := simBridge(t, callersEnv(t))
	x := incomingTwiML(t, b, callSID(900), unknownCaller, numB)
	if got := x.says(); len(got) != 2 || got[0] != "Welcome to Design review." || got[1] != "You are the first one here." {
		t.Fatalf("alone: %q", got)
	}
	ann := connect(t, b, token("ann", "member", topicB), "websocket") // named "User ann"
	ann.connected()
	ann.subscribe(topicB)
	ann.emit("SEND_PRESENCE_EVENT", map[string]any{"category": catOnline, "topicId": topicB, "content": map[string]any{}})
	bob := connect(t, b, token("bob", "member", topicB), "polling")
	bob.connected()
	bob.subscribe(topicB)
	bob.emit("SEND_PRESENCE_EVENT", map[string]any{"category": catOnline, "topicId": topicB, "content": map[string]any{}})
	watcher := subscriber(t, b, topicB, "websocket") // subscribed, never online: not in the room
	ctx := context.Background()
	for _, from := range []string{knownCaller, unknownCaller} {
		sid, err := sim.DialIn(ctx, from, numB)
		if err != nil {
			t.Fatal(err)
		}
		watcher.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline && e.Content.MediaSession.Connected })
	}
	want := "There are 4 people here: User ann, User bob, John Smith and 1 phone caller."
	deadline := time.Now().Add(eventWait)
	var got []string
	for time.Now().Before(deadline) {
		if got = incomingTwiML(t, b, callSID(901), unknownCaller, numB).says(); len(got) == 2 && got[1] == want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) != 2 || got[1] != want {
		t.Fatalf("roll call %q; want %q", got, want)
	}
	bob.close() // its connection drops: the bridge sends its leaves
	want = "There are 3 people here: User ann, John Smith and 1 phone caller."
	for time.Now().Before(deadline.Add(eventWait)) {
		if got = incomingTwiML(t, b, callSID(902), unknownCaller, numB).says(); got[1] == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after bob dropped: %q; want %q", got, want)
}

// TestRollCallPlatform: in platform mode, the roll call hears web parties that joined
// through the platform's own nodes.
func TestRollCallPlatform(t *testing.T) {
	t.Parallel()
	redis := startEphemeralRedis(t)
	node := startPlatformNode(t, redis, "v2")
	env := platformEnv(t, nil, redis)
	for k, v := range callersEnv(t) {
		env[k] = v
	}
	b := startBridge(t, env)
	waitReady(t, b, 200)
	cara := platformClient(t, node, "cara", "member", topicB)
	cara.emit("SEND_PRESENCE_EVENT", map[string]any{"category": catOnline, "topicId": topicB, "content": map[string]any{}})
	want := "There is 1 person here: User cara."
	deadline := time.Now().Add(eventWait)
	var got []string
	for time.Now().Before(deadline) {
		if got = incomingTwiML(t, b, callSID(910), unknownCaller, numB).says(); len(got) == 2 && got[1] == want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) != 2 || got[1] != want {
		t.Fatalf("roll call %q; want %q", got, want)
	}
	cara.emit("SEND_PRESENCE_EVENT", map[string]any{"category": catLeaves, "topicId": topicB, "content": map[string]any{}})
	for time.Now().Before(deadline.Add(eventWait)) {
		if got = incomingTwiML(t, b, callSID(911), unknownCaller, numB).says(); got[1] == "You are the first one here." {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got[1] != "You are the first one here." {
		t.Fatalf("after cara left: %q", got)
	}

	// LOBBY_EVENT stays out of the platform's rooms, even for its admins: the bridge's own
	// admin sees the caller wait.
	platAdmin := platformClient(t, node, "pat", "admin", topicA)
	ownAdmin := connect(t, b, token("alice", "admin", topicA), "websocket")
	ownAdmin.connected()
	ownAdmin.subscribe(topicA)
	waiter := callSID(912)
	incomingTwiML(t, b, waiter, unknownCaller, numA)
	if ev := ownAdmin.waitLobby(waiter); ev.State != "waiting" {
		t.Errorf("LOBBY_EVENT %+v", ev)
	}
	for _, m := range platAdmin.drain(time.Second) {
		t.Errorf("the platform's admin got %s %s", m.Name, m.Data)
	}
}

// TestLockoutTwoInstances: wrong PINs from one number count across calls and across two
// instances on one Redis; the 10th locks the number out on both, before any <Gather>.
func TestLockoutTwoInstances(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	a := startBridge(t, redisEnv(t, nil, redis))
	b := startBridge(t, redisEnv(t, nil, redis))
	const unrouted = "+15005550099"
	pin := func(br *bridge, n, attempt int, digits string) twiml {
		t.Helper()
		path := "/twilio/voice/pin?attempt=" + fmt.Sprint(attempt)
		form := voiceForm(callSID(n), unknownCaller, unrouted, "Digits", digits)
		return parseTwiML(t, br.mustPost(path, form, 200))
	}
	for i := range 9 {
		br := a
		if i%2 == 1 {
			br = b
		}
		if x := pin(br, 100+i/3, i%3+1, "000000"); len(x.Say) > 0 && strings.Contains(x.Say[0], "Too many") {
			t.Fatalf("locked out after %d wrong PINs", i+1)
		}
	}
	x := pin(b, 104, 1, "000000")
	if x.Gather != nil || x.Hangup == nil || len(x.Say) != 1 || x.Say[0] != "Too many wrong PINs. Please try again later." {
		t.Fatalf("10th wrong PIN: %+v; want the lockout and a hang-up", x)
	}
	for _, br := range []*bridge{a, b} {
		x := parseTwiML(t, br.mustPost("/twilio/voice", voiceForm(callSID(200), unknownCaller, unrouted), 200))
		if x.Gather != nil || x.Hangup == nil || len(x.Say) != 1 || !strings.HasPrefix(x.Say[0], "Too many wrong PINs") {
			t.Errorf("a new call on %s: %+v; want the lockout before any Gather", br.URL, x)
		}
		// Another number still gets its PIN prompt.
		if x := parseTwiML(t, br.mustPost("/twilio/voice", voiceForm(callSID(201), knownCaller, unrouted), 200)); x.Gather == nil {
			t.Errorf("another number on %s was locked out", br.URL)
		}
	}
	total := 0
	for _, br := range []*bridge{a, b} {
		m := br.get("/metrics", "")
		for _, line := range strings.Split(m.Body, "\n") {
			if strings.HasPrefix(line, "dialin_pin_lockouts_total ") {
				var n int
				fmt.Sscan(strings.TrimPrefix(line, "dialin_pin_lockouts_total "), &n)
				total += n
			}
		}
		if strings.Contains(br.LogsWritten(), "4155550123") {
			t.Errorf("%s logged the full number", br.URL)
		}
	}
	if total != 1 {
		t.Errorf("dialin_pin_lockouts_total summed over both instances = %d; want 1", total)
	}
}

// TestCallersTwoInstances: two instances on one Redis are one bridge to callers and admins:
// an admin on one sees and admits a caller waiting through the other, and a caller on either
// hears the web parties of both in the roll call.
func TestCallersTwoInstances(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	sim := twiliosim.New(twiliosim.Options{AccountSID: accountID, AuthToken: authToken})
	api := httptest.NewServer(sim)
	t.Cleanup(func() { api.Close(); sim.Close() })
	env := redisEnv(t, nil, redis)
	env["DIALIN_TWILIO_API_URL"] = api.URL
	for k, v := range callersEnv(t) {
		env[k] = v
	}
	a := startBridge(t, env)
	b := startBridge(t, env)
	sim.SetBridgeURL(a.env["DIALIN_PUBLIC_URL"])
	adminTok := token("alice", "admin", topicA, topicB)
	admin := connect(t, b, adminTok, "websocket")
	admin.connected()
	admin.subscribe(topicA)
	member := connect(t, a, token("mo", "member", topicA), "websocket")
	member.connected()
	member.subscribe(topicA)

	sid, err := sim.DialIn(context.Background(), unknownCaller, numA) // waits through instance a
	if err != nil {
		t.Fatal(err)
	}
	if ev := admin.waitLobby(sid); ev.State != "waiting" {
		t.Errorf("admin on b: %+v; want waiting", ev)
	}
	if !waiting(b.lobby(adminTok, topicA), sid) {
		t.Fatal("b's GET lobby does not list a caller waiting through a")
	}
	b.mustAPI("POST", "/api/topics/"+topicA+"/lobby/"+sid, adminTok, `{"admit":true}`, 202)
	member.waitParty(sid, func(e modEvent) bool { return e.Category == catOnline && e.Content.MediaSession.Connected })
	for _, m := range member.drain(quiet) {
		if m.Name == "LOBBY_EVENT" {
			t.Errorf("a member on a got %s", m.Data)
		}
	}

	// Roll call: web parties on each instance, heard by a caller on either.
	for i, br := range []*bridge{a, b} {
		c := connect(t, br, token(fmt.Sprintf("w%d", i), "member", topicB), "websocket")
		c.connected()
		c.subscribe(topicB)
		c.emit("SEND_PRESENCE_EVENT", map[string]any{"category": catOnline, "topicId": topicB, "content": map[string]any{}})
	}
	want := "There are 2 people here: User w0 and User w1."
	for i, br := range []*bridge{a, b} {
		deadline := time.Now().Add(eventWait)
		var got []string
		for time.Now().Before(deadline) {
			if got = incomingTwiML(t, br, callSID(950+i), unknownCaller, numB).says(); len(got) == 2 && got[1] == want {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(got) != 2 || got[1] != want {
			t.Errorf("roll call on %s: %q; want %q", br.URL, got, want)
		}
	}
}
