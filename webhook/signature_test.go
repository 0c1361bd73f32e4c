package webhook_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// TestTwilioSignatureAlgorithm pins the test's own signer to a published test vector (the one
// in twilio-go's request validator tests, which exercises case-sensitive key order: "Reason"
// before "ReasonConferenceEnded"), so that the tests below sign as Twilio does.
func TestTwilioSignatureAlgorithm(t *testing.T) {
	form := url.Values{
		"Digits":                {"1234"},
		"CallSid":               {"CA1234567890ABCDE"},
		"To":                    {"+18005551212"},
		"Caller":                {"+14158675309"},
		"From":                  {"+14158675309"},
		"ReasonConferenceEnded": {"test"},
		"Reason":                {"Participant"},
	}
	got := twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form)
	if want := "vOEb5UThFn24KEfnOFLQY2AE5FY="; got != want {
		t.Fatalf("signature %q; want %q", got, want)
	}
}

func TestSignature(t *testing.T) {
	sid := callSID(1)
	form := func() url.Values { return voiceForm(sid, unknownCaller, numA) }
	tampered := form()
	tampered.Set("From", knownCaller)
	extra := form()
	extra.Set("CallerName", "Mallory")

	tests := []struct {
		name string
		dev  bool
		// publicURL, when set, is the handler's PublicURL.
		publicURL string
		req       request
		want      int
	}{
		{name: "valid", req: request{path: webhook.PathVoice, form: form()}, want: http.StatusOK},
		{
			name: "valid whatever Host says",
			req: request{path: webhook.PathVoice, form: form(), header: map[string]string{
				"Host": "internal-lb.local:8080", "X-Forwarded-Host": "other.example.com", "X-Forwarded-Proto": "http"}},
			want: http.StatusOK,
		},
		{
			name:      "public URL given with a trailing slash",
			publicURL: publicURL + "/",
			req:       request{path: webhook.PathVoice, form: form()},
			want:      http.StatusOK,
		},
		{
			name: "signed with the default port",
			req:  request{path: webhook.PathVoice, form: form(), signURL: "https://bridge.example.com:443" + webhook.PathVoice},
			want: http.StatusOK,
		},
		{
			name: "valid with a query string",
			req:  request{path: webhook.PathVoice + "?region=eu", form: form()},
			want: http.StatusOK,
		},
		{name: "missing header", req: request{path: webhook.PathVoice, form: form(), unsigned: true}, want: http.StatusForbidden},
		{
			name: "empty header",
			req:  request{path: webhook.PathVoice, form: form(), unsigned: true, header: map[string]string{"X-Twilio-Signature": ""}},
			want: http.StatusForbidden,
		},
		{
			name: "garbage header",
			req:  request{path: webhook.PathVoice, form: form(), unsigned: true, header: map[string]string{"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}},
			want: http.StatusForbidden,
		},
		{name: "wrong token", req: request{path: webhook.PathVoice, form: form(), signToken: "0000000000000000000000000000000f"}, want: http.StatusForbidden},
		{name: "body value tampered", req: request{path: webhook.PathVoice, form: tampered, signForm: form()}, want: http.StatusForbidden},
		{name: "parameter added", req: request{path: webhook.PathVoice, form: extra, signForm: form()}, want: http.StatusForbidden},
		{
			name: "query tampered",
			req:  request{path: webhook.PathVoice + "?region=us", form: form(), signURL: publicURL + webhook.PathVoice + "?region=eu"},
			want: http.StatusForbidden,
		},
		{
			name: "query dropped from the signed URL",
			req:  request{path: webhook.PathVoice + "?region=us", form: form(), signURL: publicURL + webhook.PathVoice},
			want: http.StatusForbidden,
		},
		{
			name: "signed for another path",
			req:  request{path: webhook.PathVoice, form: form(), signURL: publicURL + webhook.PathStatus},
			want: http.StatusForbidden,
		},
		{
			name: "signed for a spoofed Host",
			req: request{path: webhook.PathVoice, form: form(), signURL: "https://evil.example.com" + webhook.PathVoice,
				header: map[string]string{"Host": "evil.example.com"}},
			want: http.StatusForbidden,
		},
		{
			name: "signed for X-Forwarded-Host",
			req: request{path: webhook.PathVoice, form: form(), signURL: "https://evil.example.com" + webhook.PathVoice,
				header: map[string]string{"X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "https"}},
			want: http.StatusForbidden,
		},
		{
			name: "signed for the test server's own address",
			req:  request{path: webhook.PathVoice, form: form(), signURL: "SERVER" + webhook.PathVoice},
			want: http.StatusForbidden,
		},
		{
			name: "signed for http instead of https",
			req: request{path: webhook.PathVoice, form: form(), signURL: "http://bridge.example.com" + webhook.PathVoice,
				header: map[string]string{"X-Forwarded-Proto": "http"}},
			want: http.StatusForbidden,
		},
		{name: "dev mode without signature", dev: true, req: request{path: webhook.PathVoice, form: form(), unsigned: true}, want: http.StatusOK},
		{name: "dev mode with a wrong signature", dev: true, req: request{path: webhook.PathVoice, form: form(), signToken: "wrong"}, want: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t, withOptions(func(o *webhook.Options) {
				o.Dev = tc.dev
				if tc.publicURL != "" {
					o.PublicURL = tc.publicURL
				}
			}))
			req := tc.req
			req.signURL = strings.Replace(req.signURL, "SERVER", b.srv.URL, 1)
			r := b.do(req)
			if r.status != tc.want {
				t.Fatalf("status %d (%q); want %d", r.status, r.body, tc.want)
			}
			_, stored := b.call(sid)
			if tc.want == http.StatusForbidden {
				if stored {
					t.Error("a refused request stored its call")
				}
				if strings.Contains(r.body, "Response") {
					t.Errorf("a refused request got TwiML: %q", r.body)
				}
			} else if !stored {
				t.Error("an accepted incoming call was not stored")
			}
			if n := b.pub.len(); n != 0 {
				t.Errorf("%d events published for an incoming call", n)
			}
		})
	}
}

// TestForbiddenChangesNothing sends unsigned callbacks that would change an online call and
// checks that neither the roster nor the room sees them.
func TestForbiddenChangesNothing(t *testing.T) {
	sid, conf := callSID(7), confSID(7)
	tests := []struct {
		name string
		path string
		form url.Values
	}{
		{"participant-leave", webhook.PathConference, confForm("participant-leave", conf, topicA, 5, sid)},
		{"participant-mute", webhook.PathConference, confForm("participant-mute", conf, topicA, 5, sid)},
		{"participant-hold", webhook.PathConference, confForm("participant-hold", conf, topicA, 5, sid)},
		{"conference-end", webhook.PathConference, confForm("conference-end", conf, topicA, 5, "")},
		{"call completed", webhook.PathStatus, statusForm(sid, "completed", 5)},
		{"incoming call for the same sid", webhook.PathVoice, voiceForm(sid, knownCaller, numB)},
		{"pin for the same sid", webhook.PathPIN, pinForm(sid, knownCaller, "+15005550009", pinB)},
	}
	for _, tc := range tests {
		for _, how := range []string{"unsigned", "wrong token"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				b := newBridge(t)
				b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, numA), http.StatusOK)
				b.post(webhook.PathConference, confForm("participant-join", conf, topicA, 1, sid), http.StatusNoContent)
				before, _ := b.call(sid)
				events := b.pub.len()

				req := request{path: tc.path, form: tc.form, unsigned: how == "unsigned", signToken: "wrong-token"}
				if r := b.do(req); r.status != http.StatusForbidden {
					t.Fatalf("status %d (%q); want 403", r.status, r.body)
				}
				after, _ := b.call(sid)
				if after != before {
					t.Errorf("call changed by a refused request:\nbefore %+v\nafter  %+v", before, after)
				}
				if after.State != roster.Online {
					t.Errorf("call state %q; want online", after.State)
				}
				if n := b.pub.len(); n != events {
					t.Errorf("refused request published %d events", n-events)
				}
			})
		}
	}
}

// TestSignatureNearMisses: a signature checked with one HMAC first (the URL as configured)
// is still compared whole: one a byte or a character off, too long, too short or not base64
// is refused, and nothing panics on its length.
func TestSignatureNearMisses(t *testing.T) {
	sid := callSID(2)
	form := voiceForm(sid, unknownCaller, numA)
	good := twilioSignature(authToken, publicURL+webhook.PathVoice, form)
	raw, err := base64.StdEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-1] ^= 1
	sigs := map[string]string{
		"last byte flipped":         base64.StdEncoding.EncodeToString(flipped),
		"one byte too long":         base64.StdEncoding.EncodeToString(append(raw[:len(raw):len(raw)], 0)),
		"one byte short":            base64.StdEncoding.EncodeToString(raw[:len(raw)-1]),
		"a character added":         good + "A",
		"padding dropped":           strings.TrimRight(good, "="),
		"url-safe alphabet":         strings.NewReplacer("+", "-", "/", "_").Replace(good) + "x",
		"twice as long":             good + good,
		"28 characters, not base64": strings.Repeat("*", 28),
		"a kilobyte":                strings.Repeat("A", 1024),
	}
	for name, sig := range sigs {
		t.Run(name, func(t *testing.T) {
			b := newBridge(t)
			r := b.do(request{path: webhook.PathVoice, form: form, unsigned: true, header: map[string]string{"X-Twilio-Signature": sig}})
			if r.status != http.StatusForbidden {
				t.Fatalf("status %d (%q); want 403", r.status, r.body)
			}
			if _, stored := b.call(sid); stored {
				t.Error("a refused request stored its call")
			}
		})
	}
	b := newBridge(t)
	if r := b.do(request{path: webhook.PathVoice, form: form, unsigned: true, header: map[string]string{"X-Twilio-Signature": good}}); r.status != http.StatusOK {
		t.Fatalf("the exact signature: status %d (%q); want 200", r.status, r.body)
	}
}
