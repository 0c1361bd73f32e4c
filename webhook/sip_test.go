package webhook_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// sipForm is an incoming call to a Twilio SIP domain as Twilio sends it: SIP URIs for the
// ends, the SIP parameters, and no geographic lookup.
func sipForm(sid, from, to string, extra ...string) url.Values {
	f := voiceForm(sid, from, to,
		"SipDomain", "example.sip.twilio.com", "SipDomainSid", "SD0123456789abcdef0123456789abcdef",
		"SipCallId", "a84b4c76e66710@pbx.example.com", "SipSourceIp", "203.0.113.7",
		"SipHeader_User-Agent", "Asterisk PBX 18.2.0")
	for k := range f {
		for _, geo := range []string{"City", "State", "Zip", "Country"} {
			if strings.HasSuffix(k, geo) {
				f.Del(k)
			}
		}
	}
	return set(f, extra...)
}

// TestSIPCaller: a SIP From whose user part is an E.164 number is that number, named as
// DIALIN_CALLER_ID says (or by the directory); any other SIP From is an anonymous caller.
func TestSIPCaller(t *testing.T) {
	sid := callSID(61)
	tests := []struct {
		name string
		mode mapper.CallerIDMode
		from string
		want string // displayname
	}{
		{"E.164 user part, masked", mapper.CallerIDMasked, "sip:+14155550123@pbx.example.com", "+1 ••• 0123"},
		{"E.164 user part, full", mapper.CallerIDFull, "sip:+14155550123@pbx.example.com", "+1 415-555-0123"},
		{"E.164 user part, hidden", mapper.CallerIDHidden, "sip:+14155550123@pbx.example.com", mapper.HiddenName},
		{"E.164 user part with parameters, masked", mapper.CallerIDMasked, "sip:+14155550123@pbx.example.com;user=phone", "+1 ••• 0123"},
		{"E.164 user part of a directory caller", mapper.CallerIDMasked, "sip:+14155550100@pbx.example.com", "John Smith"},
		{"named user part", mapper.CallerIDFull, "sip:alice@pbx.example.com", mapper.AnonymousName},
		{"anonymous SIP caller", mapper.CallerIDFull, "sip:anonymous@anonymous.invalid", mapper.AnonymousName},
		{"user part without +", mapper.CallerIDFull, "sip:14155550123@pbx.example.com", mapper.AnonymousName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t, withOptions(func(o *webhook.Options) { o.CallerID = tc.mode }))
			b.post(webhook.PathVoice, sipForm(sid, tc.from, "sip:"+topicA+"@example.sip.twilio.com"), http.StatusOK)
			b.post(webhook.PathConference, confForm("participant-join", conf1, topicA, 1, sid), http.StatusNoContent)
			evs := b.pub.all()
			if len(evs) != 1 {
				t.Fatalf("published %s; want one online", categories(evs))
			}
			if got := evs[0].Sender.DisplayName; got != tc.want {
				t.Errorf("displayname %q; want %q", got, tc.want)
			}
			if tc.mode != mapper.CallerIDFull && strings.Contains(b.logs.String(), "4155550123") {
				t.Errorf("the log shows the full number:\n%s", b.logs.String())
			}
		})
	}
}
