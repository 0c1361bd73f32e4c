// Package webhook answers Twilio's voice webhooks: it checks their signatures, routes incoming
// calls to topics with TwiML, applies conference and call status callbacks to the roster, and
// publishes the presence events they call for through a Publisher it declares.
package webhook

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
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

// Publisher sends a presence event to every room client subscribed to the event's topic.
type Publisher interface {
	Publish(ev mapper.Event)
}

// Observer is told the outcome of every webhook, for metrics. result is "ok", "ignored",
// "bad_signature", "bad_request", "too_large", "method" or "error".
type Observer interface {
	Webhook(endpoint, result string, took time.Duration)
	Emitted(category string)
}

type nopObserver struct{}

func (nopObserver) Webhook(string, string, time.Duration) {}
func (nopObserver) Emitted(string)                        {}

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
}

// Handler serves the four webhook endpoints.
type Handler struct {
	opts      Options
	roster    *roster.Roster
	rooms     func() *rooms.Rooms
	pub       Publisher
	log       *slog.Logger
	obs       Observer
	validator client.RequestValidator
	mux       *http.ServeMux
	joins     sync.Map // topic id → its join TwiML, the same for every call
}

// New returns a Handler. rooms returns the rooms file in force (it may be reloaded).
func New(opts Options, r *roster.Roster, rooms func() *rooms.Rooms, pub Publisher, obs Observer, log *slog.Logger) *Handler {
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
	h := &Handler{
		opts:      opts,
		roster:    r,
		rooms:     rooms,
		pub:       pub,
		log:       log,
		obs:       obs,
		validator: client.NewRequestValidator(opts.AuthToken),
		mux:       http.NewServeMux(),
	}
	h.mux.Handle(PathVoice, h.endpoint("voice", h.voice))
	h.mux.Handle(PathPIN, h.endpoint("pin", h.pin))
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
	if c, ok := h.rooms().Caller(in.From); ok {
		return roster.Identity{Username: c.Username, DisplayName: c.DisplayName,
			PictureURL: c.PictureURL, Role: c.Role, Masked: mapper.Mask(in.From)}
	}
	display, masked := mapper.Caller(in.From, in.CallerName, h.opts.CallerID)
	return roster.Identity{DisplayName: display, PictureURL: h.opts.DefaultPictureURL, Masked: masked}
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
	if _, err := h.roster.Admit(req.ctx, in.CallSID, topic.ID, id); err != nil {
		log.Error("cannot store the incoming call", "err", err)
	}
	if !ok {
		log.Info("asking for a PIN")
		x, err := h.pinTwiML(1, "")
		return reply{twiml: x, result: "ok"}, err
	}
	log.Info("call routed", "topic", topic.ID, "by", how)
	x, err := h.joinTwiML(topic.ID)
	return reply{twiml: x, result: "ok"}, err
}

func (h *Handler) pin(req request) (reply, error) {
	p, err := parsePIN(req.form, req.query)
	if err != nil {
		return reply{}, err
	}
	topic, ok := h.rooms().ByPIN(p.Digits)
	if !ok {
		req.log.Info("wrong PIN", "attempt", p.Attempt)
		if p.Attempt >= maxPINAttempts {
			x, err := h.goodbyeTwiML(sayGoodbye)
			return reply{twiml: x, result: "ok"}, err
		}
		x, err := h.pinTwiML(p.Attempt+1, sayWrongPIN)
		return reply{twiml: x, result: "ok"}, err
	}
	if _, err := h.roster.Admit(req.ctx, p.CallSID, topic.ID, h.identity(p.incoming)); err != nil {
		req.log.Error("cannot store the routed call", "err", err)
	}
	req.log.Info("call routed", "topic", topic.ID, "by", "pin")
	x, err := h.joinTwiML(topic.ID)
	return reply{twiml: x, result: "ok"}, err
}

func (h *Handler) conference(req request) (reply, error) {
	c, err := parseConference(req.form)
	if err != nil {
		return reply{}, err
	}
	log := req.log.With("event", c.Event, "seq", c.Seq)
	switch c.Event {
	case evConferenceEnd:
		chs, err := h.roster.ConferenceEnd(req.ctx, c.TopicID, c.ConferenceSID, c.Seq, h.emit)
		if err != nil {
			return reply{}, err
		}
		log.Info("conference ended", "topic", c.TopicID, "left", len(chs))
		return reply{result: "ok"}, nil
	case evJoin, evLeave, evMute, evUnmute, evHold, evUnhold:
	default:
		return reply{result: "ignored"}, nil
	}
	ch, err := h.roster.Participant(req.ctx, c.CallSID, roster.Participant{
		ConferenceSID: c.ConferenceSID,
		TopicID:       c.TopicID,
		Seq:           c.Seq,
		Muted:         c.Muted,
		OnHold:        c.OnHold,
		Leave:         c.Event == evLeave,
	}, h.Fallback(c.TopicID), h.emit)
	if err != nil {
		return reply{}, err
	}
	return reply{result: result(ch)}, nil
}

func (h *Handler) status(req request) (reply, error) {
	s, err := parseCallStatus(req.form)
	if err != nil {
		return reply{}, err
	}
	if !s.Final {
		return reply{result: "ignored"}, nil
	}
	ch, err := h.roster.CallEnded(req.ctx, s.CallSID, s.Seq, h.emit)
	if err != nil {
		return reply{}, err
	}
	return reply{result: result(ch)}, nil
}

// Fallback names a participant the roster never saw (it reached the conference some other
// way, or its incoming call could not be stored). It is shown only in a conference of a
// known topic, and without a number; nil otherwise.
func (h *Handler) Fallback(topicID string) *roster.Identity {
	if _, known := h.rooms().Topic(topicID); !known {
		return nil
	}
	return &roster.Identity{DisplayName: mapper.HiddenName, PictureURL: h.opts.DefaultPictureURL}
}

func result(ch roster.Change) string {
	if ch.Emit == roster.EmitNone {
		return "ignored"
	}
	return "ok"
}

// emit publishes the event a roster change owes. The roster calls it with the call locked.
func (h *Handler) emit(ch roster.Change) {
	ev := Event(ch)
	h.log.Info("presence", "category", ev.Category, "call_sid", ch.Call.CallSID, "topic", ch.Call.TopicID)
	h.pub.Publish(ev)
	h.obs.Emitted(ev.Category)
}

// Event is the presence event a roster change owes.
func Event(ch roster.Change) mapper.Event {
	p := Party(ch.Call)
	if ch.Emit == roster.EmitLeaves {
		return mapper.Leaves(p, uuid.NewString())
	}
	return mapper.Online(p, uuid.NewString())
}

// Party is the mapper's view of a roster call.
func Party(c roster.Call) mapper.Party {
	return mapper.Party{
		CallSID:     c.CallSID,
		TopicID:     c.TopicID,
		Username:    c.Username,
		DisplayName: c.DisplayName,
		PictureURL:  c.PictureURL,
		Role:        c.Role,
		Muted:       c.Muted,
		OnHold:      c.OnHold,
		Version:     c.Version,
	}
}

// Emit returns the roster's emit function publishing through h, for other owners of roster
// changes (reconciliation).
func (h *Handler) Emit() roster.EmitFunc { return h.emit }
