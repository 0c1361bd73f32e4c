package twiliosim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
	"github.com/dialin-bridge/dialin-bridge/twiliosim"
)

const (
	account = twiliotest.AccountSID
	token   = "sim0auth0token0123456789abcdef01"
	topic   = "5a1339868509b80641a56655"
)

// bridgeStub is the bridge as the Sim sees it: it checks every signature, records the
// callbacks, and answers the voice webhook with twiml.
type bridgeStub struct {
	*httptest.Server
	t     *testing.T
	mu    sync.Mutex
	got   []url.Values
	twiml func(path string, form url.Values) string
}

func newBridge(t *testing.T) *bridgeStub {
	b := &bridgeStub{t: t}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if want := twiliotest.Sign(token, b.URL+r.URL.RequestURI(), r.PostForm); r.Header.Get("X-Twilio-Signature") != want {
			t.Errorf("%s: bad signature", r.URL.Path)
			w.WriteHeader(403)
			return
		}
		b.mu.Lock()
		f := r.PostForm
		f.Set("_path", r.URL.Path)
		b.got = append(b.got, f)
		twiml := b.twiml
		b.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/twilio/voice") {
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, twiml(r.URL.Path, r.PostForm))
			return
		}
		w.WriteHeader(204)
	}))
	b.twiml = func(string, url.Values) string { return join(b.URL, "start end join leave mute hold") }
	t.Cleanup(b.Close)
	return b
}

func join(base, events string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeLimit="14400"><Conference statusCallback="` +
		base + `/twilio/conference" statusCallbackMethod="POST" statusCallbackEvent="` + events +
		`" startConferenceOnEnter="true" endConferenceOnExit="false">` + topic + `</Conference></Dial></Response>`
}

// events returns the callbacks received, as "path event" lines, and with the forms.
func (b *bridgeStub) events() ([]string, []url.Values) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, f := range b.got {
		ev := f.Get("StatusCallbackEvent")
		if strings.HasPrefix(f.Get("_path"), "/twilio/voice") {
			ev = ""
		} else if ev == "" {
			ev = f.Get("CallStatus")
		}
		out = append(out, f.Get("_path")+" "+ev)
	}
	return out, append([]url.Values(nil), b.got...)
}

func (b *bridgeStub) reset() {
	b.mu.Lock()
	b.got = nil
	b.mu.Unlock()
}

func setup(t *testing.T, opts twiliosim.Options) (*twiliosim.Sim, *bridgeStub, *twilioapi.Client, string) {
	t.Helper()
	b := newBridge(t)
	opts.AccountSID, opts.AuthToken, opts.BridgeURL = account, token, b.URL
	sim := twiliosim.New(opts)
	t.Cleanup(sim.Close)
	api := httptest.NewServer(sim)
	t.Cleanup(api.Close)
	rest, err := twilioapi.New(api.URL, account, token)
	if err != nil {
		t.Fatal(err)
	}
	return sim, b, rest, api.URL
}

func idle(t *testing.T, sim *twiliosim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sim.Idle(ctx); err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestDialInJoinsAndIsListed: an incoming call asks the voice webhook, joins the conference
// its TwiML names (participant-join, conference-start, numbered from 1), and is listed by
// twilio-go through pages of one.
func TestDialInJoinsAndIsListed(t *testing.T) {
	sim, b, rest, _ := setup(t, twiliosim.Options{PageSize: 1})
	ctx := context.Background()
	a, err := sim.DialIn(ctx, "+14155550100", "+15005550006")
	if err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	c, err := sim.DialIn(ctx, "+14155550101", "+15005550006")
	if err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	evs, forms := b.events()
	equal(t, "callbacks", evs, []string{"/twilio/voice ", "/twilio/conference participant-join",
		"/twilio/conference conference-start", "/twilio/voice ", "/twilio/conference participant-join"})
	if forms[1].Get("SequenceNumber") != "1" || forms[2].Get("SequenceNumber") != "2" || forms[4].Get("SequenceNumber") != "3" {
		t.Errorf("sequence numbers %s %s %s; want 1 2 3", forms[1].Get("SequenceNumber"), forms[2].Get("SequenceNumber"), forms[4].Get("SequenceNumber"))
	}
	if forms[1].Get("CallSid") != a || forms[4].Get("CallSid") != c || forms[1].Get("FriendlyName") != topic {
		t.Errorf("join callbacks name %s %s in %s", forms[1].Get("CallSid"), forms[4].Get("CallSid"), forms[1].Get("FriendlyName"))
	}
	live, err := rest.Live(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 || live[0].CallSID != a || live[1].CallSID != c || live[0].Conference != topic {
		t.Errorf("live %+v; want %s and %s in %s", live, a, c, topic)
	}
	if len(sim.RequestsTo("GET", "/Participants.json")) != 2 {
		t.Errorf("participants listed in %d requests; want 2 pages of one", len(sim.RequestsTo("GET", "/Participants.json")))
	}
	from, _, err := rest.Caller(ctx, a)
	if err != nil || from != "+14155550100" {
		t.Errorf("Caller = %q, %v", from, err)
	}
}

// TestMuteHoldAndHangUp: participant updates send participant-mute/-hold with the new
// state; a hang-up through the Calls API sends participant-leave, then conference-end for
// the last one, then the call's completed status.
func TestMuteHoldAndHangUp(t *testing.T) {
	sim, b, rest, _ := setup(t, twiliosim.Options{})
	ctx := context.Background()
	a, _ := sim.DialIn(ctx, "+14155550100", "+15005550006")
	idle(t, sim)
	b.reset()
	conf := sim.Conference(topic)
	tr, fa := true, false
	if err := rest.UpdateParticipant(ctx, conf, a, &tr, nil); err != nil {
		t.Fatal(err)
	}
	if err := rest.UpdateParticipant(ctx, conf, a, nil, &tr); err != nil {
		t.Fatal(err)
	}
	if err := rest.UpdateParticipant(ctx, conf, a, &fa, &fa); err != nil {
		t.Fatal(err)
	}
	if err := rest.Hangup(ctx, a); err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	evs, forms := b.events()
	equal(t, "callbacks", evs, []string{"/twilio/conference participant-mute", "/twilio/conference participant-hold",
		"/twilio/conference participant-unmute", "/twilio/conference participant-unhold",
		"/twilio/conference participant-leave", "/twilio/conference conference-end", "/twilio/status completed"})
	if forms[1].Get("Muted") != "true" || forms[1].Get("Hold") != "true" {
		t.Errorf("hold callback Muted=%s Hold=%s; want both true", forms[1].Get("Muted"), forms[1].Get("Hold"))
	}
	if r := forms[4].Get("ReasonParticipantLeft"); r != "participant_updated_via_api" {
		t.Errorf("ReasonParticipantLeft %q", r)
	}
	if err := rest.Hangup(ctx, a); err == nil {
		t.Error("hanging up a completed call succeeded; Twilio refuses it")
	}
}

// TestDialOut: a participant created by friendly name rings (initiated, ringing), answers
// and joins; one to a busy number leaves with participant_add_failed and ends busy. The
// conference keeps its first participant's events.
func TestDialOut(t *testing.T) {
	sim, b, rest, _ := setup(t, twiliosim.Options{})
	ctx := context.Background()
	sim.SetOutcome("+442071838750", twiliosim.Outcome{Result: "busy"})
	req := twilioapi.DialOut{From: "+15005550006", Timeout: 30, TimeLimit: 3600,
		StatusCallback: b.URL + "/twilio/status", ConferenceCallback: b.URL + "/twilio/conference",
		ConferenceEvents: []string{"start", "end", "join", "leave", "mute", "hold", "speaker"}}
	req.To = "+14155550199"
	sid, err := rest.CreateParticipant(ctx, topic, req)
	if err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	evs, forms := b.events()
	equal(t, "answered dial-out", evs, []string{"/twilio/status initiated", "/twilio/status ringing", "/twilio/status in-progress",
		"/twilio/conference participant-join", "/twilio/conference conference-start"})
	if forms[0].Get("CallSid") != sid || forms[0].Get("Direction") != "outbound-api" || forms[2].Get("SequenceNumber") != "2" {
		t.Errorf("status callback: CallSid %s Direction %s seq %s", forms[0].Get("CallSid"), forms[0].Get("Direction"), forms[2].Get("SequenceNumber"))
	}
	if err := sim.Speak(sid, true); err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	b.reset()
	req.To = "+442071838750"
	busy, err := rest.CreateParticipant(ctx, topic, req)
	if err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	evs, forms = b.events()
	equal(t, "busy dial-out", evs, []string{"/twilio/status initiated", "/twilio/status ringing",
		"/twilio/conference participant-leave", "/twilio/status busy"})
	if forms[2].Get("CallSid") != busy || forms[2].Get("ReasonParticipantLeft") != "participant_add_failed" || forms[2].Get("ParticipantCallStatus") != "busy" {
		t.Errorf("leave of the busy call: %v", forms[2])
	}
	if len(sim.RequestsTo("POST", "/Conferences/"+topic+"/Participants.json")) != 2 {
		t.Error("dial-outs not recorded")
	}
	f := sim.RequestsTo("POST", "/Participants.json")[0].Form
	if f.Get("From") != "+15005550006" || f.Get("Timeout") != "30" || len(f["StatusCallbackEvent"]) != 4 {
		t.Errorf("recorded form %v", f)
	}
	// A dial-in now asks for other events; the conference keeps the first participant's.
	b.mu.Lock()
	b.twiml = func(string, url.Values) string { return join(b.URL, "join leave") }
	b.mu.Unlock()
	b.reset()
	in, _ := sim.DialIn(ctx, "+14155550100", "+15005550006")
	idle(t, sim)
	sim.Speak(in, true)
	idle(t, sim)
	evs, _ = b.events()
	equal(t, "events of a later participant", evs, []string{"/twilio/voice ", "/twilio/conference participant-join", "/twilio/conference participant-speech-start"})
}

// TestRingingDialOutTimesOut: a dial-out that rings is ended by its Timeout (no-answer),
// and one the caller's side rejects ends as told.
func TestRingingDialOut(t *testing.T) {
	sim, b, rest, _ := setup(t, twiliosim.Options{DefaultOutcome: twiliosim.Outcome{Result: "ring"}})
	ctx := context.Background()
	req := twilioapi.DialOut{From: "+15005550006", To: "+14155550199", Timeout: 5, StatusCallback: b.URL + "/twilio/status",
		ConferenceCallback: b.URL + "/twilio/conference", ConferenceEvents: []string{"join", "leave"}}
	sid, err := rest.CreateParticipant(ctx, topic, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, st, ok := sim.Participant(sid); !ok || st != "ringing" {
		t.Fatalf("participant status %q", st)
	}
	other, _ := rest.CreateParticipant(ctx, topic, req)
	if err := sim.Reject(other, "failed"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(8 * time.Second)
	for sim.CallStatus(sid) != "no-answer" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st := sim.CallStatus(sid); st != "no-answer" {
		t.Errorf("status %q after its timeout; want no-answer", st)
	}
	if st := sim.CallStatus(other); st != "failed" {
		t.Errorf("rejected call %q; want failed", st)
	}
}

// TestPINAndTwimlUpdate: a <Gather> waits for digits; a call given new TwiML leaves its
// conference and does what it says.
func TestPINAndTwimlUpdate(t *testing.T) {
	sim, b, _, api := setup(t, twiliosim.Options{})
	ctx := context.Background()
	b.mu.Lock()
	b.twiml = func(path string, f url.Values) string {
		if path == "/twilio/voice" {
			return `<Response><Gather input="dtmf" action="` + b.URL + `/twilio/voice/pin?attempt=1"><Say>PIN</Say></Gather></Response>`
		}
		if f.Get("Digits") == "482913" {
			return join(b.URL, "join leave")
		}
		return `<Response><Say>No</Say><Hangup/></Response>`
	}
	b.mu.Unlock()
	sid, err := sim.DialIn(ctx, "+14155550100", "+15005550099")
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Digits(ctx, sid, "482913"); err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	if _, _, st, ok := sim.Participant(sid); !ok || st != "connected" {
		t.Fatalf("after the PIN: participant %v %q", ok, st)
	}
	b.reset()
	form := url.Values{"Twiml": {`<Response><Say>Bye</Say><Hangup/></Response>`}}
	req, _ := http.NewRequest("POST", api+"/2010-04-01/Accounts/"+account+"/Calls/"+sid+".json", strings.NewReader(form.Encode()))
	req.SetBasicAuth(account, token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var call map[string]any
	json.NewDecoder(resp.Body).Decode(&call)
	resp.Body.Close()
	if resp.StatusCode != 200 || call["sid"] != sid {
		t.Fatalf("Twiml update: %d %v", resp.StatusCode, call)
	}
	idle(t, sim)
	evs, _ := b.events()
	equal(t, "after new TwiML", evs, []string{"/twilio/conference participant-leave", "/twilio/status completed"})
	if sim.CallStatus(sid) != "completed" {
		t.Errorf("status %q", sim.CallStatus(sid))
	}
}

// TestRefusals: wrong credentials get 401, unknown resources 404, and a fault is answered
// as Twilio's error JSON, which twilio-go reports.
func TestRefusals(t *testing.T) {
	sim, _, rest, api := setup(t, twiliosim.Options{})
	ctx := context.Background()
	bad, _ := twilioapi.New(api, account, "wrong")
	if _, err := bad.Live(ctx); err == nil || !strings.Contains(err.Error(), "Authenticate") {
		t.Errorf("wrong token: %v", err)
	}
	if err := rest.Hangup(ctx, twiliotest.CallSID(9)); err == nil {
		t.Error("hang-up of an unknown call succeeded")
	}
	sim.SetFault(func(r twiliosim.Request) *twiliosim.Error {
		return &twiliosim.Error{Status: 400, Code: 21220, Message: "Invalid call state"}
	})
	_, err := rest.Live(ctx)
	if err == nil || !strings.Contains(err.Error(), "Invalid call state") {
		t.Errorf("fault: %v", err)
	}
	if n := len(sim.Requests()); n != 3 {
		t.Errorf("%d requests recorded; want 3", n)
	}
}

// TestCallerHangsUpAndConferenceEnds: a caller hanging up leaves with participant_hung_up;
// a conference ended through the API takes everyone out with conference_ended_via_api.
func TestCallerHangsUpAndConferenceEnds(t *testing.T) {
	sim, b, _, _ := setup(t, twiliosim.Options{})
	ctx := context.Background()
	a, _ := sim.DialIn(ctx, "+14155550100", "+15005550006")
	idle(t, sim)
	c, _ := sim.DialIn(ctx, "+14155550101", "+15005550006")
	idle(t, sim)
	b.reset()
	if err := sim.Hangup(a); err != nil {
		t.Fatal(err)
	}
	if err := sim.EndConference(topic); err != nil {
		t.Fatal(err)
	}
	idle(t, sim)
	evs, forms := b.events()
	equal(t, "callbacks", evs, []string{"/twilio/conference participant-leave", "/twilio/status completed",
		"/twilio/conference participant-leave", "/twilio/status completed", "/twilio/conference conference-end"})
	if forms[0].Get("CallSid") != a || forms[0].Get("ReasonParticipantLeft") != "participant_hung_up" {
		t.Errorf("first leave: %s %s", forms[0].Get("CallSid"), forms[0].Get("ReasonParticipantLeft"))
	}
	if forms[2].Get("CallSid") != c || forms[2].Get("ReasonParticipantLeft") != "conference_ended_via_api" {
		t.Errorf("second leave: %s %s", forms[2].Get("CallSid"), forms[2].Get("ReasonParticipantLeft"))
	}
	if sim.Conference(topic) != "" {
		t.Error("the conference is still running")
	}
}
