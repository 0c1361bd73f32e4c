// Package twiliosim is a stateful, in-process stand-in for the parts of Twilio's Voice REST
// API the bridge uses, and for the callbacks Twilio sends back. It is an http.Handler that
// answers Twilio's documented JSON (Calls fetch and update, Conferences list and fetch,
// Participants list, fetch, update, create and delete, with Twilio's page envelope), keeps
// calls and conferences as Twilio would, records every REST request, and posts the signed
// webhooks and status callbacks Twilio would post, in order, with Twilio's SequenceNumbers:
// participant join, mute, hold, speech, leave (with ReasonParticipantLeft and
// ParticipantCallStatus), conference start and end, and call status (initiated, ringing,
// answered, completed, busy, no-answer, failed, canceled).
//
// It also plays the phone side: DialIn places an incoming call (the voice webhook, then
// whatever its TwiML says: a conference, a PIN prompt, a redirect, a hang-up), Digits answers
// a <Gather>, Hangup is the caller hanging up, Speak is the caller talking. Dial-outs created
// through the Participants API ring and then answer or fail as SetOutcome says.
//
// Tests point the bridge's DIALIN_TWILIO_API_URL at a server running the Sim; development
// mode can run it in-process. It is written from Twilio's documentation, independently of
// twilio-go.
package twiliosim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a Sim.
type Options struct {
	// AccountSID and AuthToken are the account REST requests must authenticate as, and the
	// token callbacks are signed with.
	AccountSID string
	AuthToken  string
	// BridgeURL is the bridge's public URL: incoming calls post to BridgeURL+VoicePath, and
	// their call status callbacks (the number's "call status changes" URL) go to
	// BridgeURL+StatusPath. It may be set later with SetBridgeURL.
	BridgeURL string
	// PageSize caps a page of a list (Twilio's own cap is 1000); DefaultPageSize when zero.
	PageSize int
	// Client posts the callbacks; one with a 15 s timeout (Twilio's) when nil.
	Client *http.Client
	// DefaultOutcome is what a dial-out does when SetOutcome named nothing for its number.
	DefaultOutcome Outcome
	// RedirectAfter is how long a call waits before following a <Redirect> of its TwiML (the
	// music before it plays meanwhile); zero: it waits for FollowRedirect.
	RedirectAfter time.Duration
}

// Paths of the bridge's webhooks, below BridgeURL.
const (
	VoicePath  = "/twilio/voice"
	StatusPath = "/twilio/status"
)

// DefaultPageSize is the page size without Options.PageSize.
const DefaultPageSize = 50

// Outcome is what a dial-out does once it has rung.
type Outcome struct {
	// Result is "answer" (it joins its conference), "busy", "no-answer", "failed", or "ring"
	// (it rings until Answer or Reject, or until its Timeout passes: no-answer).
	Result string
	// After is how long it rings first.
	After time.Duration
}

// Request is one REST request the Sim received.
type Request struct {
	Method string
	Path   string // without the query
	Query  url.Values
	Form   url.Values
	At     time.Time
}

// Error is a Twilio REST error answer.
type Error struct {
	Status  int
	Code    int
	Message string
}

// Sim is the stand-in. Its zero value is not usable; call New, and Close when done.
type Sim struct {
	opts   Options
	client *http.Client

	mu        sync.Mutex
	bridge    string
	calls     map[string]*call
	confs     map[string]*conference // by ConferenceSid
	requests  []Request
	outcomes  map[string]Outcome // by dialled number
	fault     func(r Request) *Error
	delay     time.Duration
	nextID    int
	closed    bool
	timers    map[*time.Timer]struct{}
	delivered []Callback

	queue   []Callback // callbacks waiting for the delivery loop
	wake    chan struct{}
	idle    *sync.Cond // signalled when the queue empties
	sending bool       // the loop holds a callback
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup // the delivery loop and pending timers
}

// New returns a running Sim.
func New(opts Options) *Sim {
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.DefaultOutcome.Result == "" {
		opts.DefaultOutcome.Result = "answer"
	}
	s := &Sim{
		opts:     opts,
		client:   opts.Client,
		bridge:   strings.TrimRight(opts.BridgeURL, "/"),
		calls:    map[string]*call{},
		confs:    map[string]*conference{},
		outcomes: map[string]Outcome{},
		timers:   map[*time.Timer]struct{}{},
		wake:     make(chan struct{}, 1),
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 15 * time.Second}
	}
	s.idle = sync.NewCond(&s.mu)
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.deliverLoop()
	}()
	return s
}

// Close stops delivering callbacks and cancels pending timers, and waits for both.
func (s *Sim) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for t := range s.timers {
		if t.Stop() {
			s.wg.Done()
		}
	}
	s.timers = nil
	s.idle.Broadcast()
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
}

// SetBridgeURL sets where incoming calls and their status callbacks go.
func (s *Sim) SetBridgeURL(u string) {
	s.mu.Lock()
	s.bridge = strings.TrimRight(u, "/")
	s.mu.Unlock()
}

// SetOutcome says what a dial-out to the number does.
func (s *Sim) SetOutcome(number string, o Outcome) {
	s.mu.Lock()
	s.outcomes[number] = o
	s.mu.Unlock()
}

// SetFault makes every REST request for which f returns an error fail with it (after
// authentication); nil answers normally again.
func (s *Sim) SetFault(f func(r Request) *Error) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// SetDelay makes every REST answer wait d first (a slow Twilio).
func (s *Sim) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Requests returns the REST requests received so far, in order.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestsTo returns the requests of the method whose path ends with suffix.
func (s *Sim) RequestsTo(method, suffix string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// newSID returns a fresh SID with the prefix: the prefix and 32 hexadecimal digits.
func (s *Sim) newSID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// after runs fn (which takes the lock itself) after d, unless the Sim closes first. The
// caller holds s.mu.
func (s *Sim) after(d time.Duration, fn func()) {
	if s.closed {
		return
	}
	s.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		if s.timers == nil {
			s.mu.Unlock()
			return
		}
		delete(s.timers, t)
		s.mu.Unlock()
		fn()
	})
	s.timers[t] = struct{}{}
}

func (e *Error) Error() string { return fmt.Sprintf("twilio %d: %s", e.Code, e.Message) }
