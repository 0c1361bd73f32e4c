package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/dialin-bridge/dialin-bridge/internal/clip"
	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
)

// ErrBadRequest marks a signed request that lacks what its endpoint needs. Its text is the
// one-line reason sent back with 400.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

func sid(form url.Values, key, prefix string) (string, error) {
	v := form.Get(key)
	if v == "" {
		return "", badRequest("missing %s", key)
	}
	if !twilioapi.ValidSID(v, prefix) {
		return "", badRequest("malformed %s", key)
	}
	return v, nil
}

func seqNumber(form url.Values, required bool) (int64, error) {
	v := form.Get("SequenceNumber")
	if v == "" {
		if required {
			return 0, badRequest("missing SequenceNumber")
		}
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("malformed SequenceNumber")
	}
	return n, nil
}

// optBool parses an optional "true"/"false" parameter; nil when absent.
func optBool(form url.Values, key string) (*bool, error) {
	v := form.Get(key)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil || (v != "true" && v != "false") {
		return nil, badRequest("malformed %s", key)
	}
	return &b, nil
}

// incoming is an incoming-call webhook. From and To are E.164 numbers when Twilio sent one,
// directly or as the user part of a SIP URI.
type incoming struct {
	CallSID    string
	From       string
	To         string
	CallerName string
	SIPTopic   string // SipHeader_X-Topic-Id, in any case of the name
	ToTopic    string // the user part of a SIP To that is not a number: a topic id, perhaps
}

func parseIncoming(form url.Values) (incoming, error) {
	s, err := sid(form, "CallSid", "CA")
	if err != nil {
		return incoming{}, err
	}
	in := incoming{
		CallSID:    s,
		From:       sipNumber(strings.TrimSpace(form.Get("From"))),
		To:         sipNumber(strings.TrimSpace(form.Get("To"))),
		CallerName: strings.TrimSpace(form.Get("CallerName")),
		SIPTopic:   sipHeader(form, sipTopicHeader),
	}
	if user, ok := sipUser(in.To); ok {
		in.ToTopic = user
	}
	return in, nil
}

// pinEntry is the <Gather> result of the PIN prompt.
type pinEntry struct {
	incoming
	Digits  string
	Attempt int
}

// maxPINAttempts is how many PINs a caller may try.
const maxPINAttempts = 3

func parsePIN(form url.Values, query url.Values) (pinEntry, error) {
	in, err := parseIncoming(form)
	if err != nil {
		return pinEntry{}, err
	}
	attempt := 1
	if v := query.Get("attempt"); v != "" {
		attempt, err = strconv.Atoi(v)
		if err != nil || attempt < 1 || attempt > maxPINAttempts {
			return pinEntry{}, badRequest("malformed attempt")
		}
	}
	digits := strings.TrimRight(strings.TrimSpace(form.Get("Digits")), "#")
	return pinEntry{incoming: in, Digits: digits, Attempt: attempt}, nil
}

// Conference status callback events (StatusCallbackEvent).
const (
	evConferenceStart = "conference-start"
	evConferenceEnd   = "conference-end"
	evJoin            = "participant-join"
	evLeave           = "participant-leave"
	evMute            = "participant-mute"
	evUnmute          = "participant-unmute"
	evHold            = "participant-hold"
	evUnhold          = "participant-unhold"
	evSpeechStart     = "participant-speech-start"
	evSpeechStop      = "participant-speech-stop"
)

// eventName reads a callback's event or status name: required, and shaped as Twilio names
// them (lower-case words joined by hyphens), so that a name Twilio adds later is accepted and
// ignored while a mangled value is refused.
func eventName(form url.Values, key string) (string, error) {
	v := form.Get(key)
	if v == "" {
		return "", badRequest("missing %s", key)
	}
	if !wellFormedName(v) {
		return "", badRequest("malformed %s %q", key, clip.String(v, 40))
	}
	return v, nil
}

func wellFormedName(s string) bool {
	alnum := func(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }
	if len(s) > 64 || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !alnum(s[i]) && s[i] != '-' && s[i] != '_' {
			return false
		}
	}
	return true
}

// conference is a conference status callback.
type conference struct {
	Event         string
	ConferenceSID string
	TopicID       string // FriendlyName
	Seq           int64
	CallSID       string // participant-* only
	Muted         *bool
	OnHold        *bool
	Speaking      *bool
	Reason        string // participant-leave: why, as a mapper Reason ("" for hung_up)
}

func parseConference(form url.Values) (conference, error) {
	ev, err := eventName(form, "StatusCallbackEvent")
	if err != nil {
		return conference{}, err
	}
	conf, err := sid(form, "ConferenceSid", "CF")
	if err != nil {
		return conference{}, err
	}
	seq, err := seqNumber(form, true)
	if err != nil {
		return conference{}, err
	}
	c := conference{Event: ev, ConferenceSID: conf, TopicID: form.Get("FriendlyName"), Seq: seq}
	switch ev {
	case evJoin, evLeave, evMute, evUnmute, evHold, evUnhold, evSpeechStart, evSpeechStop:
	default:
		// conference-start, conference-end and the events the bridge does not act on
		// (speech, recording, announcements, any added later) carry no participant it needs.
		return c, nil
	}
	if c.CallSID, err = sid(form, "CallSid", "CA"); err != nil {
		return conference{}, err
	}
	if c.Muted, err = optBool(form, "Muted"); err != nil {
		return conference{}, err
	}
	if c.OnHold, err = optBool(form, "Hold"); err != nil {
		return conference{}, err
	}
	// The event itself says what changed, whatever the snapshot fields say.
	yes, no := true, false
	switch ev {
	case evMute:
		c.Muted = &yes
	case evUnmute:
		c.Muted = &no
	case evHold:
		c.OnHold = &yes
	case evUnhold:
		c.OnHold = &no
	case evSpeechStart:
		c.Speaking = &yes
	case evSpeechStop:
		c.Speaking = &no
	case evLeave:
		c.Reason = leaveReason(form.Get("ReasonParticipantLeft"), form.Get("ParticipantCallStatus"))
	}
	return c, nil
}

// leaveReason is why a participant left, from Twilio's ReasonParticipantLeft and
// ParticipantCallStatus: the conference ended, or a dial-out never connected; else "" (the
// roster takes it for hung_up, or removed when an admin removed it).
func leaveReason(reason, callStatus string) string {
	switch reason {
	case "conference_ended_via_api", "moderator_ended_conference":
		return mapper.ReasonConferenceEnded
	}
	switch callStatus {
	case "busy", "no-answer", "failed", "canceled":
		return roster.StatusReason(callStatus)
	}
	return ""
}

// finalStatuses are the CallStatus values that end the call. Any other well-formed status
// (queued, initiated, ringing, in-progress, or one Twilio adds later) changes nothing.
var finalStatuses = map[string]bool{
	"completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true,
}

// callStatus is a call status callback.
type callStatus struct {
	CallSID   string
	Status    string
	Direction string
	Final     bool
	Seq       int64
}

func parseCallStatus(form url.Values) (callStatus, error) {
	s, err := sid(form, "CallSid", "CA")
	if err != nil {
		return callStatus{}, err
	}
	st, err := eventName(form, "CallStatus")
	if err != nil {
		return callStatus{}, err
	}
	seq, err := seqNumber(form, false)
	if err != nil {
		return callStatus{}, err
	}
	return callStatus{CallSID: s, Status: st, Direction: form.Get("Direction"), Final: finalStatuses[st], Seq: seq}, nil
}
