package webhook_test

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// get sends a webhook as Twilio does for a number configured for HTTP GET: the parameters
// appended to the URL's query, signed over that full URL and no body parameters.
func (b *bridge) get(path string, form url.Values) response {
	b.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return b.do(request{method: http.MethodGet, path: path + sep + form.Encode()})
}

// canonical sorts n's attributes, and its descendants', which TwiML writes in random order.
func canonical(n node) node {
	n.Attrs = slices.Clone(n.Attrs)
	slices.SortFunc(n.Attrs, func(a, b xml.Attr) int { return strings.Compare(a.Name.Local, b.Name.Local) })
	n.Children = slices.Clone(n.Children)
	for i := range n.Children {
		n.Children[i] = canonical(n.Children[i])
	}
	return n
}

// TestGETWebhooks runs a whole call through GET webhooks, and the same call through POST
// on another bridge: both are answered alike, and the room sees the same events.
func TestGETWebhooks(t *testing.T) {
	sid := callSID(50)
	const unrouted = "+15005550009"
	flow := []struct {
		name string
		path string
		form url.Values
	}{
		{"incoming call asks for a PIN", webhook.PathVoice, voiceForm(sid, knownCaller, unrouted)},
		{"wrong PIN", webhook.PathPIN + "?attempt=1", pinForm(sid, knownCaller, unrouted, "000000")},
		{"right PIN", webhook.PathPIN + "?attempt=2", pinForm(sid, knownCaller, unrouted, pinB)},
		{"conference-start", webhook.PathConference, confForm("conference-start", conf1, topicB, 0, "")},
		{"participant-join", webhook.PathConference, confForm("participant-join", conf1, topicB, 1, sid)},
		{"participant-mute", webhook.PathConference, confForm("participant-mute", conf1, topicB, 2, sid)},
		{"call status in-progress", webhook.PathStatus, statusForm(sid, "in-progress", 1)},
		{"call status completed", webhook.PathStatus, statusForm(sid, "completed", 2)},
	}
	viaGET, viaPOST := newBridge(t), newBridge(t)
	for _, step := range flow {
		t.Run(step.name, func(t *testing.T) {
			g := viaGET.get(step.path, step.form)
			p := viaPOST.do(request{path: step.path, form: step.form})
			if g.status != p.status || g.status >= 300 {
				t.Fatalf("GET status %d (%q), POST status %d (%q); want the same 2xx", g.status, g.body, p.status, p.body)
			}
			if g.status == http.StatusOK && !reflect.DeepEqual(canonical(parseTwiML(t, g)), canonical(parseTwiML(t, p))) {
				t.Errorf("GET TwiML\n%s\ndiffers from POST TwiML\n%s", g.body, p.body)
			}
		})
	}
	ge, pe := viaGET.pub.all(), viaPOST.pub.all()
	if categories(ge) != categories(pe) || len(ge) != 3 {
		t.Fatalf("GET published %s, POST %s; want online, online muted, leaves", categories(ge), categories(pe))
	}
	checkEvent(t, ge[0], onlineEv(sid, true, false), topicB)
	checkEvent(t, ge[1], onlineEv(sid, true, true), topicB)
	checkEvent(t, ge[2], leavesEv(sid), topicB)
	if s := ge[0].Sender; s.DisplayName != "John Smith" {
		t.Errorf("GET caller shown as %q; want the directory's John Smith", s.DisplayName)
	}
}

// TestGETSignature: a GET webhook is signed over the full URL, query included, and nothing
// else; anything else is refused with 403 and changes nothing.
func TestGETSignature(t *testing.T) {
	sid := callSID(51)
	form := voiceForm(sid, unknownCaller, numA)
	query := webhook.PathVoice + "?" + form.Encode()
	tampered := voiceForm(sid, knownCaller, numA)
	tests := []struct {
		name string
		req  request
		want int
	}{
		{"signed over the full URL", request{method: http.MethodGet, path: query}, http.StatusOK},
		{"signed as a POST, with the parameters appended", request{method: http.MethodGet, path: query,
			signURL: publicURL + webhook.PathVoice, signForm: form}, http.StatusForbidden},
		{"signed over the URL without its query", request{method: http.MethodGet, path: query,
			signURL: publicURL + webhook.PathVoice}, http.StatusForbidden},
		{"query changed after signing", request{method: http.MethodGet, path: webhook.PathVoice + "?" + tampered.Encode(),
			signURL: publicURL + query}, http.StatusForbidden},
		{"wrong token", request{method: http.MethodGet, path: query, signToken: "0000000000000000000000000000dead"}, http.StatusForbidden},
		{"unsigned", request{method: http.MethodGet, path: query, unsigned: true}, http.StatusForbidden},
		{"signed, but without CallSid", request{method: http.MethodGet,
			path: webhook.PathVoice + "?" + set(voiceForm(sid, unknownCaller, numA), "CallSid", "").Encode()}, http.StatusBadRequest},
		{"signed, malformed query", request{method: http.MethodGet, path: webhook.PathVoice + "?CallSid=" + sid + "&From=%zz"}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			r := b.do(tc.req)
			if r.status != tc.want {
				t.Fatalf("status %d (%q); want %d", r.status, r.body, tc.want)
			}
			if r.status == http.StatusOK {
				checkJoin(t, parseTwiML(t, r), topicA)
			}
			if _, stored := b.call(sid); stored != (tc.want == http.StatusOK) {
				t.Errorf("call stored = %v with status %d", stored, r.status)
			}
		})
	}
}
