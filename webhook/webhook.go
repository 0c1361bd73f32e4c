// Package webhook answers Twilio's voice webhooks: it checks their signatures, parses them,
// routes incoming calls to topics with TwiML, and hands each change of a call to the presence
// core through the Core interface it declares.
package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// The webhook paths, below the public URL.
const (
	PathVoice      = "/twilio/voice"
	PathPIN        = "/twilio/voice/pin"
	PathConference = "/twilio/conference"
	PathStatus     = "/twilio/status"
)

// MaxBody is the largest webhook body accepted.
const MaxBody = 64 << 10

// ErrBadSignature marks a request whose X-Twilio-Signature is missing or wrong.
var ErrBadSignature = errors.New("missing or invalid X-Twilio-Signature")

// Core is what the webhooks need of the presence core: it applies each change of a call
// and publishes what that owes. The bool results say whether the callback owed an event.
type Core interface {
	Admit(ctx context.Context, sid, topicID string, id roster.Identity) error
	Participant(ctx context.Context, sid string, p roster.Participant) (bool, error)
	CallEnded(ctx context.Context, sid string, seq int64, status string) (bool, error)
	Ringing(ctx context.Context, sid string, seq int64) (bool, error)
	ConferenceEnd(ctx context.Context, topicID, conferenceSID string, seq int64) (left int, err error)
}

// Observer is told the outcome of every webhook, for metrics. result is "ok", "ignored",
// "bad_signature", "bad_request", "too_large", "method" or "error".
type Observer interface {
	Webhook(endpoint, result string, took time.Duration)
}

type nopObserver struct{}

func (nopObserver) Webhook(string, string, time.Duration) {}

// Options configure the handler.
type Options struct {
	// PublicURL is the base URL Twilio calls; signatures are checked against it, never
	// against Host or proxy headers, and TwiML callback URLs are built from it.
	PublicURL string
	// AuthToken validates X-Twilio-Signature.
	AuthToken string
	// Dev skips the signature check, for trying the bridge without Twilio.
	Dev bool
	// CallerID says how callers outside the directory are named.
	CallerID mapper.CallerIDMode
	// DefaultPictureURL is the picture of callers outside the directory.
	DefaultPictureURL string
	// SayVoice and SayLanguage speak the PIN prompts; DefaultSayVoice and
	// DefaultSayLanguage when empty.
	SayVoice    string
	SayLanguage string
	// MaxCallDuration is a dial-in's <Dial timeLimit>, in whole seconds;
	// DefaultMaxCallDuration when zero.
	MaxCallDuration time.Duration
	// Room says who is in a room, for topics with a roll call; nil: no roll call.
	Room Room
	// Lobby holds the callers of topics with a lobby; nil: such topics have none.
	Lobby Lobby
	// LobbyMusicURL is what waiting callers hear (DefaultLobbyMusicURL when empty), and
	// LobbyTimeout how long they may wait (DefaultLobbyTimeout when zero).
	LobbyMusicURL string
	LobbyTimeout  time.Duration
	// PINs locks out numbers that enter too many wrong PINs; nil: only the three tries per
	// call.
	PINs PINGuard
	// Lockouts is told of each lockout, for metrics; nil for none.
	Lockouts LockoutObserver
	// Speaking asks every conference for speech events and applies them (DIALIN_SPEAKING);
	// without it they are answered 204 and ignored.
	Speaking bool
}

// Handler serves the webhook endpoints: voice, PIN, lobby, conference and status.
type Handler struct {
	opts      Options
	core      Core
	rooms     func() *rooms.Rooms
	log       *slog.Logger
	obs       Observer
	validator client.RequestValidator
	macs      sync.Pool // hash.Hash: HMAC-SHA1s keyed with the auth token, reused (see signedAs)
	mux       *http.ServeMux
	joins     sync.Map // topic id → its join TwiML, the same for every call
}

// New returns a Handler. rooms returns the rooms file in force (it may be reloaded).
func New(opts Options, core Core, rooms func() *rooms.Rooms, obs Observer, log *slog.Logger) *Handler {
	if obs == nil {
		obs = nopObserver{}
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	if opts.SayVoice == "" {
		opts.SayVoice = DefaultSayVoice
	}
	if opts.SayLanguage == "" {
		opts.SayLanguage = DefaultSayLanguage
	}
	if opts.MaxCallDuration <= 0 {
		opts.MaxCallDuration = DefaultMaxCallDuration
	}
	if opts.LobbyMusicURL == "" {
		opts.LobbyMusicURL = DefaultLobbyMusicURL
	}
	if opts.LobbyTimeout <= 0 {
		opts.LobbyTimeout = DefaultLobbyTimeout
	}
	h := &Handler{
		opts:      opts,
		core:      core,
		rooms:     rooms,
		log:       log,
		obs:       obs,
		validator: client.NewRequestValidator(opts.AuthToken),
		mux:       http.NewServeMux(),
	}
	h.mux.Handle(PathVoice, h.endpoint("voice", h.voice))
	h.mux.Handle(PathPIN, h.endpoint("pin", h.pin))
	h.mux.Handle(PathLobby, h.endpoint("lobby", h.lobby))
	h.mux.Handle(PathConference, h.endpoint("conference", h.conference))
	h.mux.Handle(PathStatus, h.endpoint("status", h.status))
	return h
}

// ServeHTTP implements http.Handler for the paths under /twilio/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// identity is how the room shows the caller of an incoming call.
func (h *Handler) identity(in incoming) roster.Identity {
	return callerIdentity(h.rooms(), in.From, in.CallerName, h.opts.CallerID, h.opts.DefaultPictureURL)
}

// CallerIdentity is how a caller is shown, from From and CallerName as Twilio gives them (in
// a webhook, or in its Calls resource): exactly as the incoming-call webhook shows it.
func CallerIdentity(rs *rooms.Rooms, from, callerName string, mode mapper.CallerIDMode, picture string) roster.Identity {
	return callerIdentity(rs, sipNumber(strings.TrimSpace(from)), strings.TrimSpace(callerName), mode, picture)
}

// callerIdentity is CallerIdentity of a From and CallerName as parseIncoming leaves them: as
// the rooms file's directory names the number, else by the CallerName or the number as mode
// says, with picture.
func callerIdentity(rs *rooms.Rooms, from, callerName string, mode mapper.CallerIDMode, picture string) roster.Identity {
	if c, ok := rs.Caller(from); ok {
		return roster.Identity{Username: c.Username, DisplayName: c.DisplayName,
			PictureURL: c.PictureURL, Role: c.Role, Masked: mapper.Mask(from), Directory: true}
	}
	display, masked := mapper.Caller(from, callerName, mode)
	return roster.Identity{DisplayName: display, PictureURL: picture, Masked: masked}
}

// route finds the topic of an incoming call: by SIP header, else by the user part of a SIP
// To, else by dialled number.
func (h *Handler) route(in incoming) (rooms.Topic, string, bool) {
	rs := h.rooms()
	if in.SIPTopic != "" {
		if t, ok := rs.Topic(in.SIPTopic); ok {
			return t, "sip", true
		}
	}
	if in.ToTopic != "" {
		if t, ok := rs.Topic(in.ToTopic); ok {
			return t, "sip-uri", true
		}
	}
	if t, ok := rs.ByNumber(in.To); ok {
		return t, "number", true
	}
	return rooms.Topic{}, "", false
}

func (h *Handler) voice(req request) (reply, error) {
	in, err := parseIncoming(req.form)
	if err != nil {
		return reply{}, err
	}
	id := h.identity(in)
	log := req.log.With("from", id.Masked)
	topic, how, ok := h.route(in)
	if !ok && !h.rooms().HasPINs() {
		log.Info("no topic for the call", "to", mapper.Mask(in.To))
		x, err := h.goodbyeTwiML(sayNoMeeting)
		return reply{twiml: x, result: "ignored"}, err
	}
	// A store failure must not drop the caller: answer all the same, and let the conference
	// callbacks name the call as best they can.
	if err := h.core.Admit(req.ctx, in.CallSID, topic.ID, id); err != nil {
		log.Error("cannot store the incoming call", "err", err)
	}
	if !ok {
		if h.lockedOut(req, in.From) {
			x, err := h.LockoutTwiML()
			return reply{twiml: x, result: "ok"}, err
		}
		log.Info("asking for a PIN")
		x, err := h.pinTwiML(1, "")
		return reply{twiml: x, result: "ok"}, err
	}
	log.Info("call routed", "topic", topic.ID, "by", how)
	return h.routed(req, topic, in.CallSID, id)
}

// routed answers a call routed to topic: into the lobby when the topic has one (and the
// caller is not a directory admin), else the greeting, the roll call and the conference.
func (h *Handler) routed(req request, topic rooms.Topic, sid string, id roster.Identity) (reply, error) {
	if topic.Lobby && h.opts.Lobby != nil && !skipsLobby(id) {
		return h.wait(req, topic, sid, id)
	}
	x, err := h.enterTwiML(req.ctx, topic, h.greeting(topic.Name))
	return reply{twiml: x, result: "ok"}, err
}

func (h *Handler) pin(req request) (reply, error) {
	p, err := parsePIN(req.form, req.url.Query())
	if err != nil {
		return reply{}, err
	}
	if h.lockedOut(req, p.From) {
		x, err := h.LockoutTwiML()
		return reply{twiml: x, result: "ok"}, err
	}
	topic, ok := h.rooms().ByPIN(p.Digits)
	if !ok {
		req.log.Info("wrong PIN", "attempt", p.Attempt)
		if h.wrongPIN(req, p.From) {
			x, err := h.LockoutTwiML()
			return reply{twiml: x, result: "ok"}, err
		}
		if p.Attempt >= maxPINAttempts {
			x, err := h.goodbyeTwiML(sayGoodbye)
			return reply{twiml: x, result: "ok"}, err
		}
		x, err := h.pinTwiML(p.Attempt+1, sayWrongPIN)
		return reply{twiml: x, result: "ok"}, err
	}
	id := h.identity(p.incoming)
	if err := h.core.Admit(req.ctx, p.CallSID, topic.ID, id); err != nil {
		req.log.Error("cannot store the routed call", "err", err)
	}
	req.log.Info("call routed", "topic", topic.ID, "by", "pin")
	return h.routed(req, topic, p.CallSID, id)
}

func (h *Handler) conference(req request) (reply, error) {
	c, err := parseConference(req.form)
	if err != nil {
		return reply{}, err
	}
	log := req.log.With("event", c.Event, "seq", c.Seq)
	switch c.Event {
	case evConferenceEnd:
		left, err := h.core.ConferenceEnd(req.ctx, c.TopicID, c.ConferenceSID, c.Seq)
		if err != nil {
			return reply{}, err
		}
		log.Info("conference ended", "topic", c.TopicID, "left", left)
		return reply{result: "ok"}, nil
	case evJoin, evLeave, evMute, evUnmute, evHold, evUnhold:
	case evSpeechStart, evSpeechStop:
		if !h.opts.Speaking {
			return reply{result: "ignored"}, nil
		}
	default:
		return reply{result: "ignored"}, nil
	}
	emitted, err := h.core.Participant(req.ctx, c.CallSID, roster.Participant{
		ConferenceSID: c.ConferenceSID,
		TopicID:       c.TopicID,
		Seq:           c.Seq,
		Muted:         c.Muted,
		OnHold:        c.OnHold,
		Speaking:      c.Speaking,
		Leave:         c.Event == evLeave,
		Reason:        c.Reason,
	})
	if err != nil {
		return reply{}, err
	}
	return reply{result: result(emitted)}, nil
}

func (h *Handler) status(req request) (reply, error) {
	s, err := parseCallStatus(req.form)
	if err != nil {
		return reply{}, err
	}
	if !s.Final {
		// A dial-out's progress: the room is shown it ringing. Incoming calls' are ignored.
		if s.Direction != "outbound-api" || (s.Status != "initiated" && s.Status != "ringing") {
			return reply{result: "ignored"}, nil
		}
		emitted, err := h.core.Ringing(req.ctx, s.CallSID, s.Seq)
		if err != nil {
			return reply{}, err
		}
		return reply{result: result(emitted)}, nil
	}
	emitted, err := h.core.CallEnded(req.ctx, s.CallSID, s.Seq, s.Status)
	if err != nil {
		return reply{}, err
	}
	return reply{result: result(emitted)}, nil
}

// result is the outcome of a callback for the metrics: "ok" when it owed an event.
func result(emitted bool) string {
	if emitted {
		return "ok"
	}
	return "ignored"
}
