package devsim_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/devsim"
	"github.com/dialin-bridge/dialin-bridge/rooms"
)

const topic = "5a1339868509b80641a56655"

// bridge is the bridge as the simulator sees it: it records the webhooks and answers the
// incoming call with a conference join.
type bridge struct {
	mu   sync.Mutex
	seen []string // "path To From" or "path event"
}

func (b *bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	b.mu.Lock()
	ev := r.PostForm.Get("StatusCallbackEvent") + r.PostForm.Get("CallStatus")
	if r.URL.Path == "/twilio/voice" {
		ev = r.PostForm.Get("To") + " " + r.PostForm.Get("From")
	}
	b.seen = append(b.seen, r.URL.Path+" "+ev)
	b.mu.Unlock()
	if r.URL.Path == "/twilio/voice" {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Conference statusCallback="http://`+r.Host+
			`/twilio/conference" statusCallbackEvent="start end join leave mute hold">`+topic+`</Conference></Dial></Response>`)
		return
	}
	w.WriteHeader(204)
}

func start(t *testing.T, roomsJSON string) (*httptest.Server, *bridge, *devsim.Sim) {
	t.Helper()
	rs, err := rooms.Parse([]byte(roomsJSON))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := devsim.Start(devsim.Options{Rooms: func() *rooms.Rooms { return rs },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	b := &bridge{}
	mux := http.NewServeMux()
	mux.Handle("/twilio/", b)
	sim.Mount(mux, "simulated")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sim.SetBridgeURL(srv.URL)
	return srv, b, sim
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestSimulateAndHangUp: a simulated call dials the topic's number from a fictional number and
// joins; Hang up ends it once; a topic without numbers is dialled by its SIP address.
func TestSimulateAndHangUp(t *testing.T) {
	srv, b, _ := start(t, `{"topics": [{"topicId": "`+topic+`", "pin": "1", "numbers": ["+15005550006"]},
		{"topicId": "nonumber", "pin": "2"}], "callers": []}`)
	status, body := post(t, srv.URL+"/api/dev/topics/"+topic+"/calls", "")
	if status != 201 || !strings.HasPrefix(body, `{"callSid":"CA`) {
		t.Fatalf("simulate: %d %s; want 201 {callSid}", status, body)
	}
	sid := strings.TrimSuffix(strings.TrimPrefix(body, `{"callSid":"`), `"}`)
	b.mu.Lock()
	first := b.seen[0]
	b.mu.Unlock()
	if !strings.HasPrefix(first, "/twilio/voice +15005550006 +141555501") {
		t.Errorf("the first webhook is %q; want the voice webhook to +15005550006 from +1 415 555 01xx", first)
	}
	if status, body := post(t, srv.URL+"/api/dev/calls/"+sid+"/hangup", "{}"); status != 202 {
		t.Errorf("hang up: %d %s; want 202", status, body)
	}
	if status, _ := post(t, srv.URL+"/api/dev/calls/"+sid+"/hangup", ""); status != 404 {
		t.Errorf("second hang up: %d; want 404", status)
	}
	if status, body := post(t, srv.URL+"/api/dev/topics/nonumber/calls", `{"from": "+442071838750"}`); status != 201 {
		t.Fatalf("simulate to a topic without numbers: %d %s", status, body)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var voice []string
	for _, s := range b.seen {
		if strings.HasPrefix(s, "/twilio/voice") {
			voice = append(voice, s)
		}
	}
	if len(voice) != 2 || voice[1] != "/twilio/voice sip:nonumber@dev.sip.twilio.com +442071838750" {
		t.Errorf("voice webhooks %q; want the second to the topic's SIP address from the given number", voice)
	}
}

// TestBadRequests: every bad request gets its status and a one-line {"error"}, and places no
// call.
func TestBadRequests(t *testing.T) {
	srv, b, _ := start(t, `{"topics": [{"topicId": "`+topic+`", "pin": "1"}], "callers": []}`)
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"unknown field", "/api/dev/topics/" + topic + "/calls", `{"to": "+15005550006"}`, 400},
		{"not E.164", "/api/dev/topics/" + topic + "/calls", `{"from": "0800 123"}`, 400},
		{"not JSON", "/api/dev/topics/" + topic + "/calls", `from=+1`, 400},
		{"two values", "/api/dev/topics/" + topic + "/calls", `{} {}`, 400},
		{"too large", "/api/dev/topics/" + topic + "/calls", `{"from": "` + strings.Repeat("1", 17<<10) + `"}`, 400},
		{"unknown topic", "/api/dev/topics/nosuchtopic/calls", `{}`, 404},
		{"unknown call", "/api/dev/calls/CA00000000000000000000000000000001/hangup", `{}`, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, srv.URL+tc.path, tc.body)
			if status != tc.status || !strings.HasPrefix(body, `{"error":"`) || strings.Contains(body, "\n") {
				t.Errorf("%d %s; want %d with a one-line {\"error\"}", status, body, tc.status)
			}
		})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) != 0 {
		t.Errorf("the bridge got %q; want nothing", b.seen)
	}
}

// TestRESTNeedsItsToken: the simulated REST API answers the simulated account's token only.
func TestRESTNeedsItsToken(t *testing.T) {
	_, _, sim := start(t, `{"topics": [], "callers": []}`)
	url := sim.APIURL() + "/2010-04-01/Accounts/" + devsim.AccountSID + "/Conferences.json"
	for _, tc := range []struct {
		token  string
		status int
	}{{sim.AuthToken(), 200}, {"wrong", 401}} {
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth(devsim.AccountSID, tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("token %q: %d; want %d", tc.token, resp.StatusCode, tc.status)
		}
	}
	if !strings.HasPrefix(sim.APIURL(), "http://127.0.0.1:") {
		t.Errorf("APIURL %s; want a loopback address", sim.APIURL())
	}
}
