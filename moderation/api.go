// Package moderation is the admins' HTTP API on phone parties (contract §6): mute and hold,
// mute all, removal and dial-out, with the room clients' tokens, CORS for browsers on allowed
// origins, {"error": …} answers, and one audit line and one count per action. It asks the
// presence core to act (the Core interface it declares); the room sees each change when
// Twilio reports it.
package moderation

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
)

// The API's routes.
const (
	PathParty   = "/api/topics/{topicId}/parties/{callSid}"
	PathMuteAll = "POST /api/topics/{topicId}/mute"
	PathDialOut = "POST /api/topics/{topicId}/parties"
)

// Core is what the API needs of the presence core.
type Core interface {
	SetMedia(ctx context.Context, topicID, sid string, muted, hold *bool) error
	MuteAll(ctx context.Context, topicID string, muted bool, except []string) ([]string, []presence.Failure, error)
	Remove(ctx context.Context, topicID, sid string) error
	DialOut(ctx context.Context, topicID, to, displayname string) (string, error)
}

// Authorizer checks a request's Authorization header (publisher.Server does).
type Authorizer interface {
	Authorize(header string) (*publisher.Claims, error)
}

// Observer counts the actions, by action and result.
type Observer interface {
	Moderation(action, result string)
}

// Options configure the API.
type Options struct {
	Auth Authorizer
	Core Core
	// Relay sends an admin's event (party.removed) to the topic: its room clients, and the
	// platform's rooms in platform mode.
	Relay    func(topicID string, payload any)
	Observer Observer
	Log      *slog.Logger
	// DialOut says whether dial-out is configured; without it every dial-out gets 501,
	// before anything else is checked.
	DialOut bool
}

// API serves the routes.
type API struct{ o Options }

// New returns the API.
func New(o Options) *API {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Relay == nil {
		o.Relay = func(string, any) {}
	}
	return &API{o: o}
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("PATCH "+PathParty, a.patch)
	mux.HandleFunc("DELETE "+PathParty, a.remove)
	mux.HandleFunc(PathMuteAll, a.muteAll)
	mux.HandleFunc(PathDialOut, a.dialOut)
}

// requestTimeout bounds what one request waits for: the store and Twilio.
const requestTimeout = 15 * time.Second

// maxTopicID is the longest topic id (contract §3).
const maxTopicID = 128

// Authorize checks that the request's token grants the topic, as an admin when admin: it
// answers 401 or 403 itself and returns nil claims then.
func (a *API) Authorize(w http.ResponseWriter, r *http.Request, topicID string, admin bool) *publisher.Claims {
	claims, err := a.o.Auth.Authorize(r.Header.Get("Authorization"))
	switch {
	case err != nil:
		WriteError(w, http.StatusUnauthorized, "a valid bearer token is required")
		return nil
	case topicID == "" || len(topicID) > maxTopicID:
		WriteError(w, http.StatusBadRequest, "malformed topic id")
		return nil
	case !claims.Grants(topicID):
		WriteError(w, http.StatusForbidden, "the token does not grant this topic")
		return nil
	case admin && claims.Role != publisher.RoleAdmin:
		WriteError(w, http.StatusForbidden, "only an admin may act on phone parties")
		return nil
	}
	return claims
}

// act is one audited action.
type act struct {
	a      *API
	claims *publisher.Claims
	action string
	sub    string
	topic  string
	sid    string
	to     string // a dial-out's number, masked
}

// done answers status with body (an error message for status ≥ 400), counts and logs it.
func (x act) done(w http.ResponseWriter, status int, body any) {
	result := Result(status)
	x.a.o.Observer.Moderation(x.action, result)
	args := []any{"sub", x.sub, "action", x.action, "topic", x.topic, "call_sid", x.sid, "result", result, "status", status}
	if x.to != "" {
		args = append(args, "to", x.to)
	}
	if msg, ok := body.(string); ok && status >= 400 {
		args = append(args, "error", msg)
		x.a.o.Log.Info("moderation", args...)
		WriteError(w, status, msg)
		return
	}
	x.a.o.Log.Info("moderation", args...)
	WriteJSON(w, status, body)
}

// Result is the metrics' result label of an answer's status.
func Result(status int) string {
	switch status {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted:
		return "ok"
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusTooManyRequests:
		return "too_many"
	case http.StatusNotImplemented:
		return "not_configured"
	case http.StatusBadGateway:
		return "twilio_error"
	}
	return "unavailable"
}

// status is the answer to an error of the core.
// digitRuns finds what may be a phone number in a message from Twilio.
var digitRuns = regexp.MustCompile(`\+?\d{7,}`)

func status(err error) (int, string) {
	switch {
	case errors.Is(err, presence.ErrUnknownParty):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, presence.ErrNotConnected):
		return http.StatusConflict, err.Error()
	case errors.Is(err, presence.ErrDialOutOff):
		return http.StatusNotImplemented, err.Error()
	case errors.Is(err, presence.ErrBadNumber):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, presence.ErrDestination):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, presence.ErrTooManyRinging):
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, presence.ErrTwilio), errors.Is(err, presence.ErrNoTwilio):
		// Twilio's messages may quote the number ("The 'To' number … is not valid").
		return http.StatusBadGateway, digitRuns.ReplaceAllStringFunc(err.Error(), mapper.Mask)
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusBadGateway, "Twilio did not answer in time"
	}
	return http.StatusServiceUnavailable, "the phone roster is not available"
}

// begin authorizes an admin's action on the topic, answering refusals (counted as action).
func (a *API) begin(w http.ResponseWriter, r *http.Request, action string) (act, bool) {
	x := act{a: a, action: action, topic: r.PathValue("topicId"), sid: r.PathValue("callSid")}
	rec := &statusWriter{ResponseWriter: w}
	claims := a.Authorize(rec, r, x.topic, true)
	if claims == nil {
		a.o.Observer.Moderation(action, Result(rec.status))
		a.o.Log.Info("moderation", "sub", "", "action", action, "topic", x.topic, "result", Result(rec.status), "status", rec.status)
		return x, false
	}
	x.sub, x.claims = claims.Subject, claims
	if x.sid != "" && !twilioapi.ValidSID(x.sid, "CA") {
		x.done(w, http.StatusBadRequest, "malformed call SID")
		return x, false
	}
	return x, true
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (a *API) patch(w http.ResponseWriter, r *http.Request) {
	x, ok := a.begin(w, r, "update")
	if !ok {
		return
	}
	var body struct {
		Muted *bool `json:"muted"`
		Hold  *bool `json:"hold"`
	}
	if err := DecodeBody(w, r, &body); err != nil {
		x.done(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Muted == nil && body.Hold == nil {
		x.done(w, http.StatusBadRequest, "malformed body: muted or hold is required")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	err := a.o.Core.SetMedia(ctx, x.topic, x.sid, body.Muted, body.Hold)
	// One request may carry two actions: each is logged and counted.
	var actions []string
	if body.Muted != nil {
		actions = append(actions, pick(*body.Muted, "mute", "unmute"))
	}
	if body.Hold != nil {
		actions = append(actions, pick(*body.Hold, "hold", "unhold"))
	}
	code, msg := http.StatusAccepted, ""
	if err != nil {
		code, msg = status(err)
	}
	for i, action := range actions {
		x.action = action
		if i < len(actions)-1 {
			a.o.Observer.Moderation(action, Result(code))
			a.o.Log.Info("moderation", "sub", x.sub, "action", action, "topic", x.topic, "call_sid", x.sid, "result", Result(code), "status", code)
			continue
		}
		if err != nil {
			x.done(w, code, msg)
			return
		}
		out := map[string]any{"callSid": x.sid}
		if body.Muted != nil {
			out["muted"] = *body.Muted
		}
		if body.Hold != nil {
			out["hold"] = *body.Hold
		}
		x.done(w, code, out)
	}
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// removedSender is the sender of a party.removed an admin asked for, from the token.
type removedSender struct {
	ID          string `json:"_id"`
	Type        string `json:"type"`
	DisplayName string `json:"displayname,omitempty"`
}

type attendee struct {
	AttendeeType string `json:"attendeeType"`
	Attendee     string `json:"attendee"`
}

type removedContent struct {
	Attendee attendee `json:"attendee"`
}

// removed is the party.removed relayed to the topic, as §3 relays an admin's.
type removed struct {
	ID       string         `json:"_id"`
	Category string         `json:"category"`
	TopicID  string         `json:"topicId"`
	Sender   removedSender  `json:"sender"`
	Content  removedContent `json:"content"`
}

func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	x, ok := a.begin(w, r, "remove")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if err := a.o.Core.Remove(ctx, x.topic, x.sid); err != nil {
		code, msg := status(err)
		x.done(w, code, msg)
		return
	}
	a.o.Relay(x.topic, removed{
		ID:       uuid.NewString(),
		Category: mapper.CategoryRemoved,
		TopicID:  x.topic,
		Sender:   removedSender{ID: x.claims.Subject, Type: "user", DisplayName: x.claims.Name},
		Content:  removedContent{Attendee: attendee{AttendeeType: mapper.SenderPhone, Attendee: x.sid}},
	})
	x.done(w, http.StatusAccepted, map[string]string{"callSid": x.sid})
}

func (a *API) muteAll(w http.ResponseWriter, r *http.Request) {
	x, ok := a.begin(w, r, "mute-all")
	if !ok {
		return
	}
	var body struct {
		Muted  *bool    `json:"muted"`
		Except []string `json:"except"`
	}
	if err := DecodeBody(w, r, &body); err != nil {
		x.done(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Muted == nil {
		x.done(w, http.StatusBadRequest, "malformed body: muted is required")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	requested, failed, err := a.o.Core.MuteAll(ctx, x.topic, *body.Muted, body.Except)
	if err != nil {
		code, msg := status(err)
		x.done(w, code, msg)
		return
	}
	x.done(w, http.StatusAccepted, map[string]any{"requested": requested, "failed": failed})
}

func (a *API) dialOut(w http.ResponseWriter, r *http.Request) {
	if !a.o.DialOut {
		x := act{a: a, action: "dial-out", topic: r.PathValue("topicId")}
		x.done(w, http.StatusNotImplemented, presence.ErrDialOutOff.Error())
		return
	}
	x, ok := a.begin(w, r, "dial-out")
	if !ok {
		return
	}
	var body struct {
		To          *string `json:"to"`
		DisplayName *string `json:"displayname"`
	}
	if err := DecodeBody(w, r, &body); err != nil {
		x.done(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.To == nil {
		x.done(w, http.StatusBadRequest, "malformed body: to is required")
		return
	}
	x.to = mapper.Mask(*body.To)
	name := ""
	if body.DisplayName != nil {
		name = *body.DisplayName
		if n := utf8.RuneCountInString(name); n < 1 || n > 64 || !utf8.ValidString(name) {
			x.done(w, http.StatusBadRequest, "malformed body: displayname must be 1 to 64 characters")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	sid, err := a.o.Core.DialOut(ctx, x.topic, *body.To, name)
	if err != nil {
		code, msg := status(err)
		x.done(w, code, msg)
		return
	}
	x.sid = sid
	x.done(w, http.StatusCreated, map[string]string{"callSid": sid})
}
