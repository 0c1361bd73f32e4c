package webhook

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The seed corpora are realistic Twilio bodies, in testdata/fuzz/<FuzzName>/.

// isSID is an independent check of a Twilio SID: prefix and 32 hex digits.
func isSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, r := range s[2:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// checkReason checks a refused body's error: ErrBadRequest, one short printable line.
func checkReason(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("error %v is not ErrBadRequest", err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) || len(msg) > 200 {
		t.Fatalf("reason %q is not one short printable line", msg)
	}
}

func parseForm(body []byte) (url.Values, bool) {
	form, err := url.ParseQuery(string(body))
	// The handler answers 400 to a body that is not a valid form before any parse function.
	return form, err == nil
}

func FuzzConferenceParams(f *testing.F) {
	f.Add([]byte("StatusCallbackEvent=participant-join&ConferenceSid=CF0123456789abcdef0123456789abcdef&SequenceNumber=1&CallSid=CA0123456789abcdef0123456789abcdef&Muted=false&Hold=false&FriendlyName=5a1339868509b80641a56655"))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, ok := parseForm(body)
		if !ok {
			return
		}
		c, err := parseConference(form)
		if err != nil {
			checkReason(t, err)
			return
		}
		ev := form.Get("StatusCallbackEvent")
		if c.Event != ev || !twilioName.MatchString(ev) {
			t.Fatalf("accepted event %q (form %q)", c.Event, ev)
		}
		if !isSID(c.ConferenceSID, "CF") || c.ConferenceSID != form.Get("ConferenceSid") {
			t.Fatalf("accepted ConferenceSid %q", c.ConferenceSID)
		}
		seq, err := strconv.ParseInt(form.Get("SequenceNumber"), 10, 64)
		if err != nil || seq < 0 || c.Seq != seq {
			t.Fatalf("accepted SequenceNumber %q as %d", form.Get("SequenceNumber"), c.Seq)
		}
		if c.TopicID != form.Get("FriendlyName") {
			t.Fatalf("topic %q; FriendlyName %q", c.TopicID, form.Get("FriendlyName"))
		}
		if !participantEvents[ev] {
			if c.CallSID != "" || c.Muted != nil || c.OnHold != nil {
				t.Fatalf("conference event %q carries participant state %+v", ev, c)
			}
			return
		}
		if !isSID(c.CallSID, "CA") || c.CallSID != form.Get("CallSid") {
			t.Fatalf("accepted CallSid %q", c.CallSID)
		}
		checkBool := func(name string, got *bool, forced string) {
			v := form.Get(name)
			switch {
			case forced != "":
				if got == nil || strconv.FormatBool(*got) != forced {
					t.Fatalf("%s: %s = %v; want %s", ev, name, got, forced)
				}
			case v == "":
				if got != nil {
					t.Fatalf("%s absent but parsed as %v", name, *got)
				}
			case v == "true" || v == "false":
				if got == nil || strconv.FormatBool(*got) != v {
					t.Fatalf("%s %q parsed as %v", name, v, got)
				}
			default:
				t.Fatalf("%s %q accepted", name, v)
			}
			if v != "" && v != "true" && v != "false" {
				t.Fatalf("malformed %s %q accepted", name, v)
			}
		}
		var muted, hold string
		switch ev {
		case "participant-mute":
			muted = "true"
		case "participant-unmute":
			muted = "false"
		case "participant-hold":
			hold = "true"
		case "participant-unhold":
			hold = "false"
		}
		checkBool("Muted", c.Muted, muted)
		checkBool("Hold", c.OnHold, hold)
	})
}

func FuzzIncomingParams(f *testing.F) {
	f.Add([]byte("CallSid=CA0123456789abcdef0123456789abcdef&From=%2B14155550100&To=%2B15005550006&Digits=482913%23"), "attempt=2")
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		form, ok := parseForm(body)
		if !ok {
			return
		}
		in, inErr := parseIncoming(form)
		if inErr != nil {
			checkReason(t, inErr)
		} else {
			if !isSID(in.CallSID, "CA") || in.CallSID != form.Get("CallSid") {
				t.Fatalf("accepted CallSid %q", in.CallSID)
			}
			if in.CallerName != strings.TrimSpace(form.Get("CallerName")) {
				t.Fatalf("CallerName %q parsed as %q", form.Get("CallerName"), in.CallerName)
			}
			// A number is the parameter itself, or an E.164 number taken from a SIP URI.
			for name, got := range map[string]string{"From": in.From, "To": in.To} {
				sent := strings.TrimSpace(form.Get(name))
				if got != sent && !(strings.HasPrefix(strings.ToLower(sent), "sip") && strings.HasPrefix(got, "+") && strings.Contains(sent, "@")) {
					t.Fatalf("%s %q parsed as %q", name, form.Get(name), got)
				}
			}
			header := false
			for k := range form {
				header = header || (strings.EqualFold(k, "SipHeader_X-Topic-Id") && strings.TrimSpace(form.Get(k)) == in.SIPTopic)
			}
			if in.SIPTopic != "" && !header {
				t.Fatalf("SIP topic %q is in no X-Topic-Id header of %v", in.SIPTopic, form)
			}
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p, perr := parsePIN(form, q)
		if inErr != nil {
			if perr == nil {
				t.Fatalf("PIN accepted without a valid incoming call: %v", inErr)
			}
			checkReason(t, perr)
			return
		}
		if perr != nil {
			checkReason(t, perr)
			if a := q.Get("attempt"); a == "" {
				t.Fatalf("PIN refused without attempt: %v", perr)
			}
			return
		}
		if p.Attempt < 1 || p.Attempt > maxPINAttempts {
			t.Fatalf("attempt %q accepted as %d", q.Get("attempt"), p.Attempt)
		}
		if a := q.Get("attempt"); a == "" && p.Attempt != 1 {
			t.Fatalf("no attempt parsed as %d", p.Attempt)
		}
		if strings.HasSuffix(p.Digits, "#") || p.Digits != strings.TrimRight(strings.TrimSpace(form.Get("Digits")), "#") {
			t.Fatalf("Digits %q parsed as %q", form.Get("Digits"), p.Digits)
		}
		if p.incoming != in {
			t.Fatalf("PIN's call %+v differs from the incoming call %+v", p.incoming, in)
		}
	})
}

// endsCall are the CallStatus values that end a call, per Twilio's documentation.
var endsCall = map[string]bool{"completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true}

// twilioName is how Twilio spells event and status names; a name it adds later has the
// same shape.
var twilioName = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$`)

// participantEvents are the conference events that carry a participant the bridge acts on.
var participantEvents = map[string]bool{
	"participant-join": true, "participant-leave": true, "participant-mute": true,
	"participant-unmute": true, "participant-hold": true, "participant-unhold": true,
	"participant-speech-start": true, "participant-speech-stop": true,
}

func FuzzCallStatusParams(f *testing.F) {
	f.Add([]byte("CallSid=CA0123456789abcdef0123456789abcdef&CallStatus=completed&SequenceNumber=3"))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, ok := parseForm(body)
		if !ok {
			return
		}
		s, err := parseCallStatus(form)
		if err != nil {
			checkReason(t, err)
			return
		}
		if !isSID(s.CallSID, "CA") || s.CallSID != form.Get("CallSid") {
			t.Fatalf("accepted CallSid %q", s.CallSID)
		}
		if s.Status != form.Get("CallStatus") || s.Final != endsCall[s.Status] {
			t.Fatalf("CallStatus %q parsed as %q final %v", form.Get("CallStatus"), s.Status, s.Final)
		}
		if !twilioName.MatchString(s.Status) {
			t.Fatalf("malformed CallStatus %q accepted", s.Status)
		}
		if v := form.Get("SequenceNumber"); v == "" {
			if s.Seq != 0 {
				t.Fatalf("absent SequenceNumber parsed as %d", s.Seq)
			}
		} else if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 || n != s.Seq {
			t.Fatalf("SequenceNumber %q parsed as %d", v, s.Seq)
		}
	})
}
