package webhook_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// The world of the tests, as in testdata/rooms.json.
const (
	publicURL = "https://bridge.example.com"
	authToken = "5e1b7c3a9d2f4e6081a2b3c4d5e6f708"

	topicA = "5a1339868509b80641a56655"
	pinA   = "482913"
	numA   = "+15005550006"
	topicB = "5f06c25e574ca36b54cb4cdf"
	pinB   = "771204"
	numB   = "+442071838750"

	knownCaller   = "+14155550100" // in the directory
	unknownCaller = "+14155550123" // not in the directory

	accountSID = twiliotest.AccountSID
	picture    = "https://example.com/default.png"
)

var (
	callSID = twiliotest.CallSID
	confSID = twiliotest.ConfSID
)

// twilioSignature is Twilio's documented webhook signature.
var twilioSignature = twiliotest.Sign

// fakePublisher records what the handler publishes.
type fakePublisher struct {
	mu     sync.Mutex
	events []mapper.Event
}

func (p *fakePublisher) Publish(ev mapper.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, ev)
}

func (p *fakePublisher) all() []mapper.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]mapper.Event(nil), p.events...)
}

func (p *fakePublisher) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// syncBuffer is a bytes.Buffer safe for a logger used from server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bridge is a webhook handler over a real roster and a fake publisher, served by httptest.
type bridge struct {
	t     *testing.T
	opts  webhook.Options
	store *roster.Memory
	ros   *roster.Roster
	pub   *fakePublisher
	logs  *syncBuffer
	srv   *httptest.Server
}

type bridgeOption func(*webhook.Options, *string)

func withOptions(f func(*webhook.Options)) bridgeOption {
	return func(o *webhook.Options, _ *string) { f(o) }
}

func withRooms(file string) bridgeOption {
	return func(_ *webhook.Options, f *string) { *f = file }
}

func loadRooms(t *testing.T, file string) *rooms.Rooms {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rooms.Parse(b)
	if err != nil {
		t.Fatalf("rooms.Parse(%s): %v", file, err)
	}
	return rs
}

func newBridge(t *testing.T, options ...bridgeOption) *bridge {
	t.Helper()
	opts := webhook.Options{
		PublicURL:         publicURL,
		AuthToken:         authToken,
		CallerID:          mapper.CallerIDMasked,
		DefaultPictureURL: picture,
	}
	file := "rooms.json"
	for _, o := range options {
		o(&opts, &file)
	}
	rs := loadRooms(t, file)
	b := &bridge{t: t, opts: opts, store: roster.NewMemory(), pub: &fakePublisher{}, logs: &syncBuffer{}}
	b.ros = roster.New(b.store)
	log := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	roomsNow := func() *rooms.Rooms { return rs }
	core := presence.New(presence.Options{Roster: b.ros, Rooms: roomsNow, DefaultPictureURL: opts.DefaultPictureURL,
		Sinks: []presence.Sink{b.pub}, Log: log})
	h := webhook.New(opts, core, roomsNow, nil, log)
	b.srv = httptest.NewServer(h)
	t.Cleanup(b.srv.Close)
	return b
}

type response struct {
	status int
	header http.Header
	body   string
}

// request is one webhook request. By default it is signed for publicURL+path with authToken.
type request struct {
	method string // POST when empty
	path   string // path and query
	form   url.Values
	body   string // raw body; the encoded form when empty
	// signURL, when set, is the URL signed instead of publicURL+path.
	signURL string
	// signToken, when set, signs with this token instead of authToken.
	signToken string
	// signForm, when set, is signed instead of form (the sent body differs).
	signForm url.Values
	unsigned bool
	header   map[string]string
}

func (b *bridge) do(req request) response {
	b.t.Helper()
	method := req.method
	if method == "" {
		method = http.MethodPost
	}
	body := req.body
	if body == "" && req.form != nil {
		body = req.form.Encode()
	}
	hr, err := http.NewRequest(method, b.srv.URL+req.path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !req.unsigned {
		u, tok, f := publicURL+req.path, authToken, req.form
		if req.signURL != "" {
			u = req.signURL
		}
		if req.signToken != "" {
			tok = req.signToken
		}
		if req.signForm != nil {
			f = req.signForm
		}
		hr.Header.Set("X-Twilio-Signature", twilioSignature(tok, u, f))
	}
	for k, v := range req.header {
		if strings.EqualFold(k, "Host") {
			hr.Host = v
			continue
		}
		hr.Header.Set(k, v)
	}
	resp, err := b.srv.Client().Do(hr)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(rb)}
}

// post sends a signed POST and fails the test unless the status is want.
func (b *bridge) post(path string, form url.Values, want int) response {
	b.t.Helper()
	r := b.do(request{path: path, form: form})
	if r.status != want {
		b.t.Fatalf("POST %s %v: status %d (%q); want %d", path, form, r.status, r.body, want)
	}
	return r
}

// onlineMuted brings call sid online, muted, in conference conf of topic A (SequenceNumber
// 1), and returns it as stored.
func (b *bridge) onlineMuted(sid, conf string) roster.Call {
	b.t.Helper()
	b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, numA), http.StatusOK)
	b.post(webhook.PathConference, confForm("participant-join", conf, topicA, 1, sid, "Muted", "true"), http.StatusNoContent)
	c, _ := b.call(sid)
	return c
}

func (b *bridge) call(sid string) (roster.Call, bool) {
	b.t.Helper()
	c, ok, err := b.store.Get(context.Background(), sid)
	if err != nil {
		b.t.Fatal(err)
	}
	return c, ok
}

func (b *bridge) live() []roster.Call {
	b.t.Helper()
	calls, err := b.store.Live(context.Background())
	if err != nil {
		b.t.Fatal(err)
	}
	return calls
}

// Realistic Twilio bodies.

var (
	voiceForm  = twiliotest.Voice
	confForm   = twiliotest.Conference
	statusForm = twiliotest.Status
	set        = twiliotest.Set
)

func pinForm(sid, from, to, digits string) url.Values {
	return voiceForm(sid, from, to, "Digits", digits, "FinishedOnKey", "#", "CallStatus", "in-progress")
}

// TwiML, parsed.

type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// find returns the first descendant (or n itself) named name.
func (n node) find(name string) (node, bool) {
	if n.XMLName.Local == name {
		return n, true
	}
	for _, c := range n.Children {
		if f, ok := c.find(name); ok {
			return f, true
		}
	}
	return node{}, false
}

func (n node) names() []string {
	var out []string
	for _, c := range n.Children {
		out = append(out, c.XMLName.Local)
	}
	return out
}

func parseTwiML(t *testing.T, r response) node {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d (%q); want 200 with TwiML", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("Content-Type %q; want text/xml", ct)
	}
	var root node
	if err := xml.Unmarshal([]byte(r.body), &root); err != nil {
		t.Fatalf("TwiML %q does not parse: %v", r.body, err)
	}
	if root.XMLName.Local != "Response" {
		t.Fatalf("root element %q; want Response", root.XMLName.Local)
	}
	return root
}
