package webhook_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/pinlock"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

const (
	topicPlain = "60aa00000000000000000001"
	numPlain   = "+15005550010"
	adminCall  = "+14155550199" // a directory admin
)

// fakeRoom is who is in the room, as the roll call is told.
type fakeRoom struct {
	mu sync.Mutex
	p  webhook.Present
}

func (r *fakeRoom) Present(context.Context, string) (webhook.Present, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p, nil
}

type countLockouts struct{ n atomic.Int64 }

func (c *countLockouts) PINLockout() { c.n.Add(1) }

// callerBridge is a webhook handler over testdata/callers.json, with a roll call, a lobby
// (the real core over a memory store) and a PIN lockout.
type callerBridge struct {
	*bridge
	room     *fakeRoom
	lockouts *countLockouts
	h        *webhook.Handler
}

func newCallerBridge(t *testing.T, timeout time.Duration) *callerBridge {
	t.Helper()
	rs := loadRooms(t, "callers.json")
	b := &bridge{t: t, store: roster.NewMemory(), pub: &fakePublisher{}, logs: &syncBuffer{}}
	b.ros = roster.New(b.store)
	log := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	core := presence.New(presence.Options{Roster: b.ros, Rooms: func() *rooms.Rooms { return rs },
		Sinks: []presence.Sink{b.pub}, Log: log})
	cb := &callerBridge{bridge: b, room: &fakeRoom{}, lockouts: &countLockouts{}}
	b.opts = webhook.Options{PublicURL: publicURL, AuthToken: authToken, SayVoice: "Polly.Amy", SayLanguage: "en-GB",
		Room: cb.room, Lobby: core, LobbyTimeout: timeout, LobbyMusicURL: "https://music.example.com/wait.mp3",
		PINs: pinlock.NewMemory(), Lockouts: cb.lockouts}
	cb.h = webhook.New(b.opts, core, func() *rooms.Rooms { return rs }, nil, log)
	b.srv = httptest.NewServer(cb.h)
	t.Cleanup(b.srv.Close)
	return cb
}

// spoken is the text of each <Say> of a TwiML document, checking each is in the
// configured voice and language.
func spoken(t *testing.T, root node) []string {
	t.Helper()
	var out []string
	for _, s := range says(root) {
		voice, _ := s.attr("voice")
		lang, _ := s.attr("language")
		if voice != "Polly.Amy" || lang != "en-GB" {
			t.Errorf("Say %q in voice %q language %q; want Polly.Amy en-GB", s.Text, voice, lang)
		}
		out = append(out, s.Text)
	}
	return out
}

func TestGreetingAndRollCall(t *testing.T) {
	long := strings.Repeat("Zed ", 125) // 500 characters
	tests := []struct {
		name    string
		present webhook.Present
		want    string
	}{
		{"alone", webhook.Present{}, "You are the first one here."},
		{"3 web parties and 2 phone callers",
			webhook.Present{Web: []string{"Ann Lee", "Bob Stone", "Cy Young"}, Known: []string{"John Smith"}, Unknown: 1},
			"There are 5 people here: Ann Lee, Bob Stone, Cy Young, John Smith and 1 phone caller."},
		{"9 parties",
			webhook.Present{Web: []string{"Ann Lee", "Bob Stone", "Cy Young", "Di Ng", "Ed Ko", "Flo Ray", "Gus Poe"}, Unknown: 2},
			"There are 9 people here: Ann Lee, Bob Stone, Cy Young, Di Ng, Ed Ko, 2 phone callers and 2 others."},
		{"one phone caller", webhook.Present{Unknown: 1}, "There is 1 person here: 1 phone caller."},
		{"unnamed web parties", webhook.Present{Web: []string{"", ""}}, "There are 2 people here: 2 people."},
		{"names that would break TwiML or speech",
			webhook.Present{Web: []string{"<speak>Eve</speak>", "Mal\x07lory", long, "+1 415 555 0100", "Ann & Bob"}},
			"There are 5 people here: speak Eve speak, Ann Bob and 3 others."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newCallerBridge(t, time.Minute)
			b.room.p = tc.present
			root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(1), unknownCaller, numA), http.StatusOK))
			if got := root.names(); len(got) != 3 || got[0] != "Say" || got[1] != "Say" || got[2] != "Dial" {
				t.Fatalf("verbs %v; want Say Say Dial", got)
			}
			got := spoken(t, root)
			if got[0] != "Welcome to Weekly sync." {
				t.Errorf("greeting %q", got[0])
			}
			if got[1] != tc.want {
				t.Errorf("roll call %q; want %q", got[1], tc.want)
			}
			if conf, ok := root.find("Conference"); !ok || strings.TrimSpace(conf.Text) != topicA {
				t.Errorf("no conference %s", topicA)
			}
		})
	}
}

// TestNoGreeting: a topic without name or roll call is joined at once, as before.
func TestNoGreeting(t *testing.T) {
	b := newCallerBridge(t, time.Minute)
	root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(1), unknownCaller, numPlain), http.StatusOK))
	if got := root.names(); len(got) != 1 || got[0] != "Dial" {
		t.Fatalf("verbs %v; want Dial alone", got)
	}
}

func TestLobbyWait(t *testing.T) {
	b := newCallerBridge(t, time.Minute)
	sid := callSID(2)
	root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, numB), http.StatusOK))
	if got := root.names(); strings.Join(got, " ") != "Say Say Play Redirect" {
		t.Fatalf("verbs %v; want Say Say Play Redirect", got)
	}
	got := spoken(t, root)
	if got[0] != "Welcome to Board b R D b review." || got[1] != "Please wait, someone will let you in." {
		t.Errorf("said %q", got)
	}
	if play, _ := root.find("Play"); strings.TrimSpace(play.Text) != "https://music.example.com/wait.mp3" {
		t.Errorf("Play %q", play.Text)
	}
	redirect, _ := root.find("Redirect")
	wantURL := publicURL + webhook.PathLobby + "?topic=" + topicB
	if strings.TrimSpace(redirect.Text) != wantURL {
		t.Errorf("Redirect %q; want %q", redirect.Text, wantURL)
	}
	if m, _ := redirect.attr("method"); m != "POST" {
		t.Errorf("Redirect method %q", m)
	}
	if _, ok := root.find("Dial"); ok {
		t.Error("a lobby caller is put in the conference at once")
	}
	if c, _ := b.call(sid); c.State != roster.Waiting || c.TopicID != topicB {
		t.Fatalf("stored %+v; want waiting in %s", c, topicB)
	}

	// The redirect, signed as Twilio signs it, plays the music again.
	path := webhook.PathLobby + "?topic=" + topicB
	again := parseTwiML(t, b.post(path, voiceForm(sid, unknownCaller, numB), http.StatusOK))
	if got := again.names(); strings.Join(got, " ") != "Play Redirect" {
		t.Fatalf("verbs %v; want Play Redirect", got)
	}
	// An unsigned one is refused.
	if r := b.do(request{path: path, form: voiceForm(sid, unknownCaller, numB), unsigned: true}); r.status != http.StatusForbidden {
		t.Errorf("unsigned lobby redirect: %d", r.status)
	}
	if len(b.pub.all()) != 0 {
		t.Errorf("a waiting caller was shown to the room: %+v", b.pub.all())
	}
}

func TestLobbyTimeout(t *testing.T) {
	b := newCallerBridge(t, 50*time.Millisecond)
	sid := callSID(3)
	parseTwiML(t, b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, numB), http.StatusOK))
	time.Sleep(100 * time.Millisecond)
	root := parseTwiML(t, b.post(webhook.PathLobby+"?topic="+topicB, voiceForm(sid, unknownCaller, numB), http.StatusOK))
	if got := root.names(); strings.Join(got, " ") != "Say Hangup" {
		t.Fatalf("verbs %v; want Say Hangup", got)
	}
	if got := spoken(t, root); got[0] != "Nobody has let you in. Please try again later. Goodbye." {
		t.Errorf("said %q", got)
	}
	if c, _ := b.call(sid); c.State != roster.Ended {
		t.Fatalf("stored %+v; want ended", c)
	}
}

// TestDirectoryAdminSkipsLobby: a directory caller whose role is admin goes straight in.
func TestDirectoryAdminSkipsLobby(t *testing.T) {
	b := newCallerBridge(t, time.Minute)
	root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(4), adminCall, numB), http.StatusOK))
	if _, ok := root.find("Dial"); !ok {
		t.Fatalf("an admin was not put in the conference: %v", root.names())
	}
	// A directory member waits.
	root = parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(5), knownCaller, numB), http.StatusOK))
	if _, ok := root.find("Redirect"); !ok {
		t.Fatalf("a member did not wait: %v", root.names())
	}
}

func TestAdmitDenyTwiML(t *testing.T) {
	b := newCallerBridge(t, time.Minute)
	b.room.p = webhook.Present{Web: []string{"Ann Lee"}}
	parse := func(x string, err error) node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return parseTwiML(t, response{status: http.StatusOK, header: http.Header{"Content-Type": {"text/xml"}}, body: x})
	}
	admit := parse(b.h.AdmitTwiML(context.Background(), topicA))
	if got := admit.names(); strings.Join(got, " ") != "Say Dial" {
		t.Fatalf("admit verbs %v; want Say Dial (roll call, conference)", got)
	}
	if got := spoken(t, admit); got[0] != "There is 1 person here: Ann Lee." {
		t.Errorf("admit said %q", got)
	}
	conf, _ := admit.find("Conference")
	if strings.TrimSpace(conf.Text) != topicA {
		t.Errorf("admitted into %q", conf.Text)
	}
	if cb, _ := conf.attr("statusCallback"); cb != publicURL+webhook.PathConference {
		t.Errorf("statusCallback %q", cb)
	}
	// A topic with a lobby and no roll call: the conference alone.
	if got := parse(b.h.AdmitTwiML(context.Background(), topicB)).names(); strings.Join(got, " ") != "Dial" {
		t.Errorf("admit into %s: %v; want Dial", topicB, got)
	}
	deny := parse(b.h.DenyTwiML())
	if got := deny.names(); strings.Join(got, " ") != "Say Hangup" {
		t.Fatalf("deny verbs %v", got)
	}
	if got := spoken(t, deny); got[0] != "Sorry, you were not let in to this meeting. Goodbye." {
		t.Errorf("deny said %q", got)
	}
	timeout := parse(b.h.TimeoutTwiML())
	if got := timeout.names(); strings.Join(got, " ") != "Say Hangup" {
		t.Fatalf("timeout verbs %v", got)
	}
}

// TestPINLockout: 10 wrong PINs from one number within 15 minutes, over several calls, lock
// it out: its calls hear the lockout and a hang-up before any <Gather>. Withheld numbers
// keep the three tries per call; other numbers are not locked.
func TestPINLockout(t *testing.T) {
	b := newCallerBridge(t, time.Minute)
	const unrouted = "+15005550099"
	wrong := func(n int, from string) node {
		t.Helper()
		sid := callSID(100 + n)
		attempt := n%3 + 1
		return parseTwiML(t, b.post(webhook.PathPIN+"?attempt="+string(rune('0'+attempt)), pinForm(sid, from, unrouted, "000000"), http.StatusOK))
	}
	for i := range 9 {
		root := wrong(i, unknownCaller)
		if got := spoken(t, root); len(got) > 0 && got[0] == "Too many wrong PINs. Please try again later." {
			t.Fatalf("locked out after %d wrong PINs", i+1)
		}
	}
	root := wrong(9, unknownCaller)
	if got := root.names(); strings.Join(got, " ") != "Say Hangup" {
		t.Fatalf("10th wrong PIN: verbs %v; want Say Hangup", got)
	}
	if got := spoken(t, root); got[0] != "Too many wrong PINs. Please try again later." {
		t.Errorf("said %q", got)
	}
	// A new call from the number: the lockout, before any <Gather>.
	root = parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(200), unknownCaller, unrouted), http.StatusOK))
	if got := root.names(); strings.Join(got, " ") != "Say Hangup" {
		t.Fatalf("locked-out call: verbs %v; want Say Hangup", got)
	}
	// Even the right PIN is refused while locked out.
	root = parseTwiML(t, b.post(webhook.PathPIN+"?attempt=1", pinForm(callSID(201), unknownCaller, unrouted, pinA), http.StatusOK))
	if _, ok := root.find("Dial"); ok {
		t.Error("a locked-out number joined with the right PIN")
	}
	if n := b.lockouts.n.Load(); n != 1 {
		t.Errorf("lockouts counted %d; want 1", n)
	}
	if strings.Contains(b.logs.String(), unknownCaller) {
		t.Error("a log line holds the caller's full number")
	}
	if !strings.Contains(b.logs.String(), "locked out") {
		t.Error("the lockout is not logged")
	}
	// Another number still gets the PIN prompt.
	root = parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(202), knownCaller, unrouted), http.StatusOK))
	if _, ok := root.find("Gather"); !ok {
		t.Errorf("another number: %v; want a Gather", root.names())
	}
	// Withheld numbers are never locked out as a group.
	for i := range 12 {
		wrong(300+i, "anonymous")
	}
	root = parseTwiML(t, b.post(webhook.PathVoice, voiceForm(callSID(400), "anonymous", unrouted), http.StatusOK))
	if _, ok := root.find("Gather"); !ok {
		t.Errorf("a withheld number after 12 wrong PINs: %v; want a Gather", root.names())
	}
}
