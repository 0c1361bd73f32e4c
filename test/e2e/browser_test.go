package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appServer is a web app's own server, on another origin than the bridge: it serves the room
// page (room.html) and the socket.io 2.x browser bundle from npm.
func appServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/room", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(testDir(), "room.html"))
	})
	mux.HandleFunc("/socket.io.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(testDir(), "node_modules", "socket.io-client", "dist", "socket.io.js"))
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// roomPage is the address of app's room page for a user of topic on bridge b.
func roomPage(app *httptest.Server, b *bridge, user, topic string) string {
	q := url.Values{"bridge": {b.URL}, "token": {token(user, "member", topic)}, "topic": {topic}}
	return app.URL + "/room?" + q.Encode()
}

// browser is one headless chromium, run by node browser.js (playwright-core).
type browser struct {
	t       *testing.T
	stdin   io.WriteCloser
	replies chan browserReply
	id      int
}

type browserReply struct {
	Type    string          `json:"type"`
	ID      int             `json:"id"`
	OK      bool            `json:"ok"`
	Value   json.RawMessage `json:"value"`
	Error   string          `json:"error"`
	Version string          `json:"version"`
}

// startBrowser launches chromium once for the test; it is closed when the test ends.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	logs := &syncBuffer{} // the pages' console, shown if the test fails
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", logs)
		}
	})
	_, stdin, replies := startNode[browserReply](t, logs, 10*time.Second, filepath.Join(testDir(), "browser.js"))
	br := &browser{t: t, stdin: stdin, replies: replies}
	select {
	case r, ok := <-br.replies:
		if !ok || r.Type != "ready" {
			t.Fatalf("chromium did not start (is /usr/bin/chromium installed? scripts/test.sh installs it): %+v", r)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("chromium did not start within 40 s")
	}
	return br
}

// call sends one command to browser.js and returns its answer.
func (br *browser) call(cmd map[string]any) browserReply {
	br.t.Helper()
	br.id++
	cmd["id"] = br.id
	line, _ := json.Marshal(cmd)
	if _, err := br.stdin.Write(append(line, '\n')); err != nil {
		br.t.Fatalf("browser: %v", err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case r, ok := <-br.replies:
			if !ok {
				br.t.Fatalf("browser exited during %s", line)
			}
			if r.ID == br.id {
				return r
			}
		case <-deadline:
			br.t.Fatalf("browser did not answer %s", line)
		}
	}
}

func (br *browser) open(page, url string) {
	br.t.Helper()
	if r := br.call(map[string]any{"op": "open", "page": page, "url": url}); !r.OK {
		br.t.Fatalf("open %s: %s", url, r.Error)
	}
}

// text is the page's visible text, for what a user sees and for failure messages.
func (br *browser) text(page string) string {
	br.t.Helper()
	r := br.call(map[string]any{"op": "eval", "page": page, "js": "document.body.innerText"})
	var s string
	json.Unmarshal(r.Value, &s)
	if len(s) > 4000 {
		s = s[:4000] + "…"
	}
	return s
}

// wait waits until the JavaScript expression js is truthy on the page, and returns its value
// as a string; it fails the test, showing the page, if that does not happen within d.
func (br *browser) wait(page, what, js string, d time.Duration) string {
	br.t.Helper()
	r := br.call(map[string]any{"op": "wait", "page": page, "js": js, "ms": d.Milliseconds()})
	if !r.OK {
		br.t.Fatalf("page %s: no %s within %v (%s); the page shows:\n%s", page, what, d, r.Error, br.text(page))
	}
	var s string
	if json.Unmarshal(r.Value, &s) != nil {
		s = string(r.Value)
	}
	return s
}

// party waits for the page's line of the phone party sid in state (online or left).
func (br *browser) party(page, sid, state string) string {
	br.t.Helper()
	js := fmt.Sprintf(`(li => li && li.dataset.state === %q && li.textContent)(document.querySelector('#parties li[data-id=%q]'))`, state, sid)
	return br.wait(page, sid+" "+state, js, eventWait)
}

const (
	stateIs     = `document.getElementById('state').textContent === %q`
	transportIs = `document.getElementById('transport').textContent === %q`
)

// TestBrowserOtherOrigin: a web app's page on another origin than the bridge, in a real
// chromium, loads the socket.io 2.x browser bundle, connects with the default transports
// (polling, then upgraded to websocket) and a token, subscribes, and shows phone parties
// arrive and leave. Needs the bridge's CORS support (contract §3, DIALIN_ALLOWED_ORIGINS).
func TestBrowserOtherOrigin(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil)) // DIALIN_ALLOWED_ORIGINS unset: any origin
	app := appServer(t)
	pollingAllowed(t, b, "https://app.example.com") // any origin

	br := startBrowser(t)
	br.open("room", roomPage(app, b, "ann", topicA))
	br.wait("room", "subscription", fmt.Sprintf(stateIs, "subscribed"), 15*time.Second)

	b.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	if got := br.party("room", callSID(1), "online"); got != "John Smith (phone, online)" {
		t.Errorf("the page shows %q; want John Smith (phone, online)", got)
	}
	br.wait("room", "upgrade to websocket", fmt.Sprintf(transportIs, "websocket"), 10*time.Second)

	// Over the upgraded websocket: another caller arrives, the first leaves.
	b.dialIn(callSID(2), unknownCaller, numA, confSID(1), topicA, 2)
	if got := br.party("room", callSID(2), "online"); got != "+1 ••• 0123 (phone, online)" {
		t.Errorf("the page shows %q; want +1 ••• 0123 (phone, online)", got)
	}
	b.mustPost("/twilio/conference", confForm("participant-leave", confSID(1), topicA, 3, callSID(1)), 204)
	if got := br.party("room", callSID(1), "left"); got != "John Smith (phone, left)" {
		t.Errorf("the page shows %q; want John Smith (phone, left)", got)
	}
	if got := br.text("room"); got != "Connection: subscribed over websocket\n\nJohn Smith (phone, left)\n+1 ••• 0123 (phone, online)" {
		t.Errorf("the page shows:\n%s", got)
	}
}

// wsUpgrade asks the bridge for a websocket (Engine.IO 3) as a browser on origin would, and
// returns the answer's status.
func wsUpgrade(t *testing.T, b *bridge, origin string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(b.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, b.URL+"/socket.io/?EIO=3&transport=websocket", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("websocket upgrade from %q: %v", origin, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// polling sends an Engine.IO 3 polling request (GET: the handshake; OPTIONS: a preflight) as
// a browser on origin would.
func polling(t *testing.T, b *bridge, method, origin string) response {
	t.Helper()
	req, _ := http.NewRequest(method, b.URL+"/socket.io/?EIO=3&transport=polling&t=Nabc", nil)
	req.Header.Set("Origin", origin)
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s polling from %s: %v", method, origin, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return response{Status: resp.StatusCode, Body: string(body), Header: resp.Header}
}

// pollingAllowed asserts that polling answers and preflights to a browser on origin echo it
// in Access-Control-Allow-Origin and allow credentials (socket.io-client's XHRs send them).
func pollingAllowed(t *testing.T, b *bridge, origin string) {
	t.Helper()
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		r := polling(t, b, method, origin)
		acao, acac := r.Header.Get("Access-Control-Allow-Origin"), r.Header.Get("Access-Control-Allow-Credentials")
		if r.Status/100 != 2 || acao != origin || acac != "true" {
			t.Errorf("%s polling from %s: %d, Access-Control-Allow-Origin %q, -Credentials %q; want 2xx, %s, true",
				method, origin, r.Status, acao, acac, origin)
		}
	}
}

// TestBrowserOriginRefused: with DIALIN_ALLOWED_ORIGINS a list, a page from an origin outside
// it never connects and sees no party, while a page from a listed origin, in the same chromium,
// does. On the wire: the other origin's websocket upgrade gets 403 and its polling requests are
// refused; the listed origin's are answered with its Origin echoed, credentials allowed; a
// request with no Origin (not a browser) is accepted. Needs the bridge's CORS support.
func TestBrowserOriginRefused(t *testing.T) {
	t.Parallel()
	allowedApp, otherApp := appServer(t), appServer(t)
	env := prodEnv(t, nil)
	env["DIALIN_ALLOWED_ORIGINS"] = "https://app.example.com," + allowedApp.URL
	b := startBridge(t, env)
	allowed, other := allowedApp.URL, otherApp.URL

	if got := wsUpgrade(t, b, other); got != http.StatusForbidden {
		t.Errorf("websocket upgrade from %s (not listed): %d; want 403", other, got)
	}
	for _, origin := range []string{allowed, ""} {
		if got := wsUpgrade(t, b, origin); got != http.StatusSwitchingProtocols {
			t.Errorf("websocket upgrade from %q: %d; want 101", origin, got)
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		// Refused: no session, and nothing that lets the browser read an answer (a preflight
		// may say so with any status, as long as it does not allow the origin).
		r := polling(t, b, method, other)
		acao := r.Header.Get("Access-Control-Allow-Origin")
		if acao == other || acao == "*" || strings.Contains(r.Body, `"sid"`) || method == http.MethodGet && r.Status < 400 {
			t.Errorf("%s polling from %s (not listed): %d, Access-Control-Allow-Origin %q, body %q; want it refused",
				method, other, r.Status, acao, r.Body)
		}
	}
	pollingAllowed(t, b, allowed)

	br := startBrowser(t)
	br.open("listed", roomPage(allowedApp, b, "ann", topicA))
	br.open("other", roomPage(otherApp, b, "eve", topicA))
	br.wait("listed", "subscription", fmt.Sprintf(stateIs, "subscribed"), 15*time.Second)
	br.wait("other", "connect_error", `document.getElementById('state').textContent.startsWith('connect_error')`, 10*time.Second)

	b.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	if got := br.party("listed", callSID(1), "online"); got != "John Smith (phone, online)" {
		t.Errorf("the listed origin's page shows %q; want John Smith (phone, online)", got)
	}
	time.Sleep(quiet) // the other page had as long as the listed one
	if got := br.text("other"); !strings.HasPrefix(got, "Connection: connect_error") || strings.Contains(got, "John Smith") {
		t.Errorf("the other origin's page shows:\n%s\nwant connect_error and no party", got)
	}
	if got := br.call(map[string]any{"op": "eval", "page": "other", "js": "socket.connected"}); string(got.Value) != "false" {
		t.Errorf("the other origin's socket.connected = %s; want false", got.Value)
	}
}

// apiFetch is JavaScript that calls the bridge's API from the page with fetch, as a web app
// would: a cross-origin PATCH or DELETE with a bearer token and a JSON body, which the browser
// sends only after a preflight the bridge allows. It yields "status body", or "refused …".
func apiFetch(method, url, tok, body string) string {
	init := fmt.Sprintf(`{method: %q, headers: {"Authorization": "Bearer " + %q, "Content-Type": "application/json"}`, method, tok)
	if body != "" {
		init += fmt.Sprintf(`, body: %q`, body)
	}
	init += "}"
	return fmt.Sprintf(`fetch(%q, %s).then(async r => r.status + " " + await r.text(), e => "refused " + e)`, url, init)
}

// TestBrowserModerates: a moderator's page on another origin, in a real chromium, mutes and
// then removes a phone party through the bridge's API: the browser's preflight is allowed,
// the PATCH and DELETE reach Twilio (the stand-in), and the room page shows the party leave.
// A page on an origin the bridge does not allow is refused by its preflight, and Twilio gets
// nothing from it.
func TestBrowserModerates(t *testing.T) {
	t.Parallel()
	allowedApp, otherApp := appServer(t), appServer(t)
	b, sim := simBridge(t, map[string]string{"DIALIN_ALLOWED_ORIGINS": allowedApp.URL})

	// The preflight as chromium sends it, seen on the wire.
	req, _ := http.NewRequest(http.MethodOptions, b.URL+"/api/topics/"+topicA+"/parties/"+callSID(1), nil)
	req.Header.Set("Origin", allowedApp.URL)
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != allowedApp.URL || h.Get("Access-Control-Allow-Credentials") != "true" ||
		h.Get("Access-Control-Allow-Methods") != "GET, POST, PATCH, DELETE" || h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}

	br := startBrowser(t)
	br.open("room", roomPage(allowedApp, b, "ann", topicA))
	br.wait("room", "subscription", fmt.Sprintf(stateIs, "subscribed"), 15*time.Second)
	br.open("other", otherApp.URL+"/room")
	sid, err := sim.DialIn(context.Background(), knownCaller, numA)
	if err != nil {
		t.Fatal(err)
	}
	br.party("room", sid, "online")

	party := b.URL + partyPath(topicA, sid)
	tok := token("mod-1", "admin", topicA)
	r := br.call(map[string]any{"op": "eval", "page": "other", "js": apiFetch("PATCH", party, tok, `{"muted":true}`)})
	if got := string(r.Value); !strings.Contains(got, "refused") {
		t.Errorf("a page on an origin not allowed: %s; want the fetch refused", got)
	}
	r = br.call(map[string]any{"op": "eval", "page": "room", "js": apiFetch("PATCH", party, tok, `{"muted":true}`)})
	var got string
	json.Unmarshal(r.Value, &got)
	if !strings.HasPrefix(got, "202 ") || !strings.Contains(got, `"muted":true`) {
		t.Fatalf("PATCH from the page: %s %s", r.Value, r.Error)
	}
	if n := len(sim.RequestsTo("POST", "/Participants/"+sid+".json")); n != 1 {
		t.Errorf("Twilio got %d participant updates; want 1 (the allowed page's)", n)
	}
	if muted, _, _, _ := sim.Participant(sid); !muted {
		t.Error("the party is not muted at Twilio")
	}
	r = br.call(map[string]any{"op": "eval", "page": "room", "js": apiFetch("DELETE", party, tok, "")})
	json.Unmarshal(r.Value, &got)
	if !strings.HasPrefix(got, "202 ") {
		t.Fatalf("DELETE from the page: %s %s", r.Value, r.Error)
	}
	br.party("room", sid, "left")
}
