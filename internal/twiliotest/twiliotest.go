// Package twiliotest builds Twilio webhook requests as Twilio sends them, for the tests and
// the load tool: realistic bodies and X-Twilio-Signature computed from Twilio's documented
// algorithm. It is written from Twilio's documentation, independently of twilio-go, so that
// tests check the bridge's signature validation rather than share its code.
package twiliotest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"time"
)

// AccountSID is the account of every request built here.
const AccountSID = "AC0123456789abcdef0123456789abcdef"

// Default caller and dialled numbers of status callbacks.
const (
	From = "+14155550123"
	To   = "+15005550006"
)

// CallSID and ConfSID are well-formed SIDs numbered n.
func CallSID(n int) string { return fmt.Sprintf("CA%032x", n) }
func ConfSID(n int) string { return fmt.Sprintf("CF%032x", n) }

// Sign is X-Twilio-Signature: HMAC-SHA1, keyed with the auth token, over the full URL followed
// by every POST parameter's name and value, sorted by name (a repeated name's values in
// order); base64.
func Sign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(fullURL))
	for _, k := range keys {
		for _, v := range form[k] {
			mac.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Timestamp is Twilio's callback time format ("Thu, 1 Jun 2017 20:48:32 +0000").
func Timestamp(t time.Time) string { return t.UTC().Format("Mon, 2 Jan 2006 15:04:05 -0700") }

// Voice is an incoming-call webhook with every parameter Twilio's documentation lists for
// it (geographic ones for a US caller and number); extra are name, value pairs (see Set).
func Voice(sid, from, to string, extra ...string) url.Values {
	f := callParams(sid, from, to)
	f.Set("CallStatus", "ringing")
	f.Set("CallToken", "%7B%22parentCallInfoToken%22%3A%22eyJhbGciOiJFUzI1NiJ9%22%7D")
	f.Set("StirVerstat", "TN-Validation-Passed-A")
	return Set(f, extra...)
}

// callParams are the parameters of every voice webhook and call status callback: the call,
// its direction and both ends with Twilio's geographic lookup.
func callParams(sid, from, to string) url.Values {
	return url.Values{
		"AccountSid": {AccountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {sid},
		"Direction": {"inbound"}, "From": {from}, "To": {to}, "Caller": {from}, "Called": {to},
		"FromCity": {"SAN FRANCISCO"}, "FromState": {"CA"}, "FromZip": {"94107"}, "FromCountry": {"US"},
		"CallerCity": {"SAN FRANCISCO"}, "CallerState": {"CA"}, "CallerZip": {"94107"}, "CallerCountry": {"US"},
		"ToCity": {"OAKLAND"}, "ToState": {"CA"}, "ToZip": {"94612"}, "ToCountry": {"US"},
		"CalledCity": {"OAKLAND"}, "CalledState": {"CA"}, "CalledZip": {"94612"}, "CalledCountry": {"US"},
	}
}

// Conference is a conference status callback with the parameters Twilio's documentation
// lists. With a call SID it is a participant's, and carries the participant's state as
// Twilio sends it (mute and hold events set theirs).
func Conference(event, conf, topic string, seq int, sid string, extra ...string) url.Values {
	f := url.Values{
		"AccountSid": {AccountSID}, "ConferenceSid": {conf}, "FriendlyName": {topic},
		"StatusCallbackEvent": {event}, "SequenceNumber": {fmt.Sprint(seq)}, "Timestamp": {Timestamp(time.Now())},
	}
	if sid != "" {
		f.Set("CallSid", sid)
		f.Set("Muted", "false")
		f.Set("Hold", "false")
		f.Set("Coaching", "false")
		f.Set("EndConferenceOnExit", "false")
		f.Set("StartConferenceOnEnter", "true")
	}
	switch event {
	case "participant-mute":
		f.Set("Muted", "true")
	case "participant-hold":
		f.Set("Hold", "true")
	case "participant-leave":
		f.Set("ReasonParticipantLeft", "participant_hung_up")
		f.Set("ParticipantCallStatus", "completed")
	case "conference-end":
		f.Set("ReasonConferenceEnded", "last-participant-left")
		f.Set("Reason", "Last participant left the conference")
	}
	return Set(f, extra...)
}

// Status is a call status callback with the parameters Twilio's documentation lists.
func Status(sid, status string, seq int, extra ...string) url.Values {
	f := callParams(sid, From, To)
	f.Set("CallStatus", status)
	f.Set("SequenceNumber", fmt.Sprint(seq))
	f.Set("Timestamp", Timestamp(time.Now()))
	f.Set("CallbackSource", "call-progress-events")
	f.Set("CallDuration", "42")
	f.Set("Duration", "1")
	f.Set("SipResponseCode", "200")
	return Set(f, extra...)
}

// Set applies name, value pairs to f; an empty value deletes the name.
func Set(f url.Values, kv ...string) url.Values {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			f.Del(kv[i])
		} else {
			f.Set(kv[i], kv[i+1])
		}
	}
	return f
}
