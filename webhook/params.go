package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ErrBadRequest marks a signed request that lacks what its endpoint needs. Its text is the
// one-line reason sent back with 400.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// validSID reports whether s is a Twilio SID with the given two-letter prefix: the prefix and
// 32 hexadecimal digits.
func validSID(s, prefix string) bool {
	if len(s) != 34 || s[:2] != prefix {
		return false
	}
	for _, r := range s[2:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

func sid(form url.Values, key, prefix string) (string, error) {
	v := form.Get(key)
	if v == "" {
		return "", badRequest("missing %s", key)
	}
	if !validSID(v, prefix) {
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

// incoming is an incoming-call webhook.
type incoming struct {
	CallSID    string
	From       string
	To         string
	CallerName string
	SIPTopic   string // SipHeader_X-Topic-Id
}

func parseIncoming(form url.Values) (incoming, error) {
	s, err := sid(form, "CallSid", "CA")
	if err != nil {
		return incoming{}, err
	}
	return incoming{
		CallSID:    s,
		From:       strings.TrimSpace(form.Get("From")),
		To:         strings.TrimSpace(form.Get("To")),
		CallerName: strings.TrimSpace(form.Get("CallerName")),
		SIPTopic:   strings.TrimSpace(form.Get("SipHeader_X-Topic-Id")),
	}, nil
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
)

// conferenceEvents are the StatusCallbackEvent values Twilio sends to a conference status
// callback. Those the bridge has no use for are accepted and ignored.
var conferenceEvents = map[string]bool{
	evConferenceStart: true, evConferenceEnd: true,
	evJoin: true, evLeave: true, evMute: true, evUnmute: true, evHold: true, evUnhold: true,
	"participant-speech-start": true, "participant-speech-stop": true,
	"participant-modify": true, "announcement-end": true, "announcement-fail": true,
	"conference-record-start": true, "conference-record-end": true,
	"conference-record-pause": true, "conference-record-resume": true,
	"conference-record-error": true, "conference-update": true,
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
}

func parseConference(form url.Values) (conference, error) {
	ev := form.Get("StatusCallbackEvent")
	if ev == "" {
		return conference{}, badRequest("missing StatusCallbackEvent")
	}
	if !conferenceEvents[ev] {
		return conference{}, badRequest("unknown StatusCallbackEvent %q", truncate(ev, 40))
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
	if !strings.HasPrefix(ev, "participant-") {
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
	}
	return c, nil
}

// callStatuses are Twilio's CallStatus values, true for those that end the call.
var callStatuses = map[string]bool{
	"queued": false, "initiated": false, "ringing": false, "in-progress": false,
	"completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true,
}

// callStatus is a call status callback.
type callStatus struct {
	CallSID string
	Status  string
	Final   bool
	Seq     int64
}

func parseCallStatus(form url.Values) (callStatus, error) {
	s, err := sid(form, "CallSid", "CA")
	if err != nil {
		return callStatus{}, err
	}
	st := form.Get("CallStatus")
	if st == "" {
		return callStatus{}, badRequest("missing CallStatus")
	}
	final, known := callStatuses[st]
	if !known {
		return callStatus{}, badRequest("unknown CallStatus %q", truncate(st, 40))
	}
	seq, err := seqNumber(form, false)
	if err != nil {
		return callStatus{}, err
	}
	return callStatus{CallSID: s, Status: st, Final: final, Seq: seq}, nil
}

// truncate keeps echoed input short and printable.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}
