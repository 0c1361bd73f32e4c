package webhook_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

var nonDigits = regexp.MustCompile(`[^0-9]`)

// noFullNumber fails when a display name holds the unknown caller's full number.
func noFullNumber(t *testing.T, d string) {
	t.Helper()
	if strings.Contains(nonDigits.ReplaceAllString(d, ""), "4155550123") {
		t.Errorf("displayname %q shows the full number", d)
	}
}

func TestIdentity(t *testing.T) {
	type want struct {
		username, displayname, picture, role string
	}
	tests := []struct {
		name       string
		mode       mapper.CallerIDMode
		from       string
		callerName string
		// want is the exact sender; check, when set, checks the display name instead.
		want  want
		check func(t *testing.T, displayname string)
	}{
		{name: "directory caller", mode: mapper.CallerIDMasked, from: knownCaller,
			want: want{"jsmith@fakeemail.com", "John Smith", "https://example.com/p/jsmith.png", "member"}},
		{name: "directory caller wins over CallerName", mode: mapper.CallerIDMasked, from: knownCaller, callerName: "SMITH JOHN",
			want: want{"jsmith@fakeemail.com", "John Smith", "https://example.com/p/jsmith.png", "member"}},
		{name: "directory caller in hidden mode", mode: mapper.CallerIDHidden, from: knownCaller,
			want: want{"jsmith@fakeemail.com", "John Smith", "https://example.com/p/jsmith.png", "member"}},
		{name: "unknown caller, masked", mode: mapper.CallerIDMasked, from: unknownCaller,
			check: func(t *testing.T, d string) {
				if !strings.Contains(d, "+1") || !strings.HasSuffix(d, "0123") {
					t.Errorf("displayname %q; want +1 and the last 4 digits", d)
				}
				if strings.Contains(nonDigits.ReplaceAllString(d, ""), "4155550123") {
					t.Errorf("displayname %q shows the full number", d)
				}
			}},
		{name: "unknown caller, default mode is masked", mode: "", from: unknownCaller,
			check: func(t *testing.T, d string) {
				if !strings.HasSuffix(d, "0123") || strings.Contains(nonDigits.ReplaceAllString(d, ""), "4155550123") {
					t.Errorf("displayname %q; want the masked number", d)
				}
			}},
		{name: "unknown UK caller, masked", mode: mapper.CallerIDMasked, from: "+447700900123",
			check: func(t *testing.T, d string) {
				if !strings.Contains(d, "+44") || !strings.HasSuffix(d, "0123") || strings.Contains(nonDigits.ReplaceAllString(d, ""), "7700900123") {
					t.Errorf("displayname %q; want +44 and the last 4 digits only", d)
				}
			}},
		{name: "unknown caller, full", mode: mapper.CallerIDFull, from: unknownCaller,
			check: func(t *testing.T, d string) {
				if nonDigits.ReplaceAllString(d, "") != "14155550123" || !strings.HasPrefix(d, "+1") {
					t.Errorf("displayname %q; want the full number", d)
				}
			}},
		{name: "unknown caller, hidden", mode: mapper.CallerIDHidden, from: unknownCaller,
			check: func(t *testing.T, d string) {
				if d == "" || nonDigits.ReplaceAllString(d, "") != "" {
					t.Errorf("displayname %q; want a name with no digits", d)
				}
			}},
		{name: "CallerName, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "DOE JANE",
			want: want{"", "DOE JANE", picture, "guest"}},
		{name: "carrier placeholder WIRELESS CALLER, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "WIRELESS CALLER",
			want: want{"", "+1 ••• 0123", picture, "guest"}},
		{name: "carrier placeholder Unavailable, full", mode: mapper.CallerIDFull, from: unknownCaller, callerName: "Unavailable",
			want: want{"", "+1 415-555-0123", picture, "guest"}},
		{name: "carrier placeholder TOLL FREE CALL, hidden", mode: mapper.CallerIDHidden, from: unknownCaller, callerName: "TOLL FREE CALL",
			want: want{"", mapper.HiddenName, picture, "guest"}},
		{name: "carrier placeholder private, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "private",
			want: want{"", "+1 ••• 0123", picture, "guest"}},
		{name: "carrier placeholder RESTRICTED, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "RESTRICTED",
			want: want{"", "+1 ••• 0123", picture, "guest"}},
		{name: "carrier placeholder UNKNOWN NAME, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "UNKNOWN NAME",
			want: want{"", "+1 ••• 0123", picture, "guest"}},
		{name: "CallerName that is a short number, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "8005",
			want: want{"", "+1 ••• 0123", picture, "guest"}},
		{name: "CallerName, hidden", mode: mapper.CallerIDHidden, from: unknownCaller, callerName: "DOE JANE",
			want: want{"", "DOE JANE", picture, "guest"}},
		{name: "CallerName that is the number, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: unknownCaller, check: noFullNumber},
		{name: "CallerName 4155550123 is a number in another form, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "4155550123", check: noFullNumber},
		{name: "CallerName 14155550123 is a number in another form, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "14155550123", check: noFullNumber},
		{name: "CallerName +1 415-555-0123 is a number in another form, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "+1 415-555-0123", check: noFullNumber},
		{name: "CallerName (415) 555-0123 is a number in another form, masked", mode: mapper.CallerIDMasked, from: unknownCaller, callerName: "(415) 555-0123", check: noFullNumber},
		{name: "withheld: anonymous", mode: mapper.CallerIDFull, from: "anonymous", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld: Anonymous", mode: mapper.CallerIDMasked, from: "Anonymous", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld: restricted", mode: mapper.CallerIDMasked, from: "restricted", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld: unknown", mode: mapper.CallerIDMasked, from: "unknown", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld: +266696687", mode: mapper.CallerIDFull, from: "+266696687", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld: empty", mode: mapper.CallerIDMasked, from: "", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld: not E.164", mode: mapper.CallerIDFull, from: "4155550123", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld: SIP URI", mode: mapper.CallerIDFull, from: "sip:alice@example.com", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "withheld with a CallerName", mode: mapper.CallerIDMasked, from: "anonymous", callerName: "DOE JANE", want: want{"", "Anonymous caller", picture, "guest"}},
		{name: "directory caller from a SIP URI", mode: mapper.CallerIDMasked, from: "sip:" + knownCaller + "@example.sip.twilio.com",
			want: want{"jsmith@fakeemail.com", "John Smith", "https://example.com/p/jsmith.png", "member"}},
		{name: "CallerName with spaces around it", mode: mapper.CallerIDMasked, from: " " + unknownCaller + " ", callerName: "  DOE JANE ",
			want: want{"", "DOE JANE", picture, "guest"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t, withOptions(func(o *webhook.Options) { o.CallerID = tc.mode }))
			form := voiceForm(callA, tc.from, numA, "CallerName", tc.callerName)
			if tc.from == "" {
				form.Del("From")
				form.Del("Caller")
			}
			b.post(webhook.PathVoice, form, http.StatusOK)
			b.post(webhook.PathConference, confForm("participant-join", conf1, topicA, 1, callA), http.StatusNoContent)
			b.post(webhook.PathConference, confForm("participant-leave", conf1, topicA, 2, callA), http.StatusNoContent)
			evs := b.pub.all()
			if len(evs) != 2 {
				t.Fatalf("published %s; want online and leaves", categories(evs))
			}
			for _, ev := range evs {
				s := ev.Sender
				if tc.check != nil {
					tc.check(t, s.DisplayName)
					if s.Username != "" || s.PictureURL != picture || ev.Content.Role != "guest" {
						t.Errorf("username %q picture %q role %q; want empty, %q, guest", s.Username, s.PictureURL, ev.Content.Role, picture)
					}
				} else {
					got := want{s.Username, s.DisplayName, s.PictureURL, ev.Content.Role}
					if got != tc.want {
						t.Errorf("%s: sender %+v; want %+v", ev.Category, got, tc.want)
					}
				}
				if tc.mode != mapper.CallerIDFull && tc.from != knownCaller {
					j, _ := json.Marshal(ev)
					if strings.Contains(string(j), "4155550123") {
						t.Errorf("event shows the full number: %s", j)
					}
				}
			}
			// A caller whose incoming call was lost is named from Twilio's Calls resource
			// through CallerIdentity: exactly as this webhook named it.
			id := webhook.CallerIdentity(loadRooms(t, "rooms.json"), tc.from, tc.callerName, tc.mode, picture)
			if s := evs[0].Sender; id.Username != s.Username || id.DisplayName != s.DisplayName || id.PictureURL != s.PictureURL {
				t.Errorf("CallerIdentity: %+v; the webhook showed %+v", id, s)
			}
		})
	}
}

// TestIdentityThroughPIN checks that a caller routed by PIN keeps the identity of its
// incoming call.
func TestIdentityThroughPIN(t *testing.T) {
	b := newBridge(t)
	const to = "+15005550009"
	b.post(webhook.PathVoice, voiceForm(callA, knownCaller, to), http.StatusOK)
	b.post(webhook.PathPIN+"?attempt=1", pinForm(callA, knownCaller, to, "123"), http.StatusOK)
	b.post(webhook.PathPIN+"?attempt=2", pinForm(callA, knownCaller, to, pinB), http.StatusOK)
	b.post(webhook.PathConference, confForm("participant-join", conf1, topicB, 1, callA), http.StatusNoContent)
	evs := b.pub.all()
	if len(evs) != 1 {
		t.Fatalf("published %s; want one online", categories(evs))
	}
	checkEvent(t, evs[0], onlineEv(callA, true, false), topicB)
	if s := evs[0].Sender; s.DisplayName != "John Smith" || s.Username != "jsmith@fakeemail.com" || evs[0].Content.Role != "member" {
		t.Errorf("sender %+v role %q; want John Smith, member", s, evs[0].Content.Role)
	}
}

// TestUnseenParticipant checks that a participant the bridge never saw an incoming call for
// is shown without a number.
func TestUnseenParticipant(t *testing.T) {
	b := newBridge(t, withOptions(func(o *webhook.Options) { o.CallerID = mapper.CallerIDFull }))
	b.post(webhook.PathConference, confForm("participant-join", conf1, topicA, 1, callA), http.StatusNoContent)
	evs := b.pub.all()
	if len(evs) != 1 {
		t.Fatalf("published %s; want one online", categories(evs))
	}
	if d := evs[0].Sender.DisplayName; d == "" || nonDigits.ReplaceAllString(d, "") != "" {
		t.Errorf("displayname %q; want a name without digits", d)
	}
	if evs[0].Sender.PictureURL != picture || evs[0].Content.Role != "guest" {
		t.Errorf("picture %q role %q; want default picture, guest", evs[0].Sender.PictureURL, evs[0].Content.Role)
	}
}
