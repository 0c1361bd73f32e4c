package webhook

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"

	"github.com/twilio/twilio-go/client"
)

// BenchmarkSignatureAndParse measures what every conference callback costs before it reaches
// the roster: parsing the form body, checking X-Twilio-Signature, and reading the parameters.
func BenchmarkSignatureAndParse(b *testing.B) {
	const token = "12345"
	const fullURL = "https://bridge.example.com/twilio/conference"
	body := url.Values{
		"AccountSid": {"AC00000000000000000000000000000000"}, "ConferenceSid": {"CF00000000000000000000000000000001"},
		"FriendlyName": {"5a1339868509b80641a56655"}, "StatusCallbackEvent": {"participant-join"},
		"CallSid": {"CAe1889084a107d447398c45f7ab8f7aa2"}, "Muted": {"false"}, "Hold": {"false"},
		"Coaching": {"false"}, "EndConferenceOnExit": {"false"}, "StartConferenceOnEnter": {"true"},
		"SequenceNumber": {"3"}, "Timestamp": {"Thu, 1 Jun 2017 20:48:32 +0000"},
	}.Encode()
	form, _ := url.ParseQuery(body)
	v := client.NewRequestValidator(token)
	sig := twiliotest.Sign(token, fullURL, form)
	h := &Handler{validator: v, opts: Options{PublicURL: "https://bridge.example.com", AuthToken: token}}
	r, _ := http.NewRequest(http.MethodPost, fullURL, nil)
	r.Header.Set("X-Twilio-Signature", sig)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		form, err := url.ParseQuery(body)
		if err != nil {
			b.Fatal(err)
		}
		if !h.signed(r, form) {
			b.Fatal("signature rejected")
		}
		if _, err := parseConference(form); err != nil {
			b.Fatal(err)
		}
	}
}
