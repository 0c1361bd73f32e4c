package sio

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// echoHandler accepts the token "good", refuses any other, and acknowledges an event with
// its argument.
type echoHandler struct {
	mu           sync.Mutex
	connects     int
	disconnects  int
	lastQueryTok string
}

func (h *echoHandler) Connect(c *Conn, q url.Values) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastQueryTok = q.Get("token")
	if q.Get("token") != "good" {
		return nil, errors.New("invalid token")
	}
	h.connects++
	return "state", nil
}

func (h *echoHandler) Event(c *Conn, name string, arg json.RawMessage, reply func([]byte)) {
	if name == "SHOUT" {
		c.Send(EventPacket("/chat", "HEARD", arg))
	}
	reply(arg)
}

func (h *echoHandler) Disconnect(c *Conn) {
	h.mu.Lock()
	h.disconnects++
	h.mu.Unlock()
}

// counter is an Observer that counts.
type counter struct {
	mu       sync.Mutex
	sessions int
	refused  map[string]int
}

func (c *counter) Sessions(d int) { c.mu.Lock(); c.sessions += d; c.mu.Unlock() }
func (c *counter) Refused(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = map[string]int{}
	}
	c.refused[r]++
}

func (c *counter) refusals(r string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused[r]
}

func (c *counter) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions
}

type testServer struct {
	*Server
	URL string
	obs *counter
	h   *echoHandler
}

func newServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	ts := &testServer{obs: &counter{}, h: &echoHandler{}}
	opts.Namespace, opts.Handler, opts.Observer = "/chat", ts.h, ts.obs
	ts.Server = New(opts)
	ts.Start()
	srv := httptest.NewServer(ts.Server)
	ts.URL = srv.URL
	t.Cleanup(func() {
		srv.CloseClientConnections()
		ts.Close()
		srv.Close()
	})
	return ts
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wsDial opens a raw Engine.IO websocket with the given query and headers.
func wsDial(t *testing.T, base, query string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/?EIO=3&transport=websocket" + query
	conn, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	}
	return conn, resp, err
}

// wsOpen opens a websocket session and reads its handshake and root CONNECT.
func wsOpen(t *testing.T, base string) *websocket.Conn {
	t.Helper()
	conn, _, err := wsDial(t, base, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := wsRead(t, conn); !strings.HasPrefix(m, `0{"sid":`) {
		t.Fatalf("handshake = %q", m)
	}
	if m := wsRead(t, conn); m != "40" {
		t.Fatalf("root CONNECT = %q; want 40", m)
	}
	return conn
}

func wsRead(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	_, m, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(m)
}

func wsSend(t *testing.T, conn *websocket.Conn, msg string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

// wsClosed reports whether the server closed the connection within 3 s.
func wsClosed(conn *websocket.Conn) bool {
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// poll is a raw long-polling client.
type poll struct {
	t      *testing.T
	base   string
	sid    string
	header http.Header
}

// pollOpen opens a polling session and returns it with the handshake's packets.
func pollOpen(t *testing.T, base string) (*poll, string) {
	t.Helper()
	p := &poll{t: t, base: base, header: http.Header{}}
	code, body, _ := p.do("GET", "", "")
	if code != 200 {
		t.Fatalf("polling handshake: %d %s", code, body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	i := strings.Index(body, "{")
	j := strings.Index(body, "}")
	if i < 0 || j < i || json.Unmarshal([]byte(body[i:j+1]), &open) != nil || open.SID == "" {
		t.Fatalf("polling handshake body %q", body)
	}
	p.sid = open.SID
	return p, body
}

func (p *poll) url() string {
	u := p.base + "/?EIO=3&transport=polling"
	if p.sid != "" {
		u += "&sid=" + url.QueryEscape(p.sid)
	}
	return u
}

// do sends one polling request. A GET asks for text payloads, as browsers without binary
// support do (b64=1), so that bodies compare as text.
func (p *poll) do(method, contentType, body string) (int, string, http.Header) {
	p.t.Helper()
	u := p.url()
	if method == "GET" {
		u += "&b64=1"
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// post sends a text payload of the given packets.
func (p *poll) post(packets ...string) (int, string) {
	p.t.Helper()
	var b strings.Builder
	for _, pk := range packets {
		b.WriteString(itoa(len([]rune(pk))) + ":" + pk)
	}
	code, body, _ := p.do("POST", "text/plain;charset=UTF-8", b.String())
	return code, body
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// until polls until a payload contains want, for up to 3 polls.
func (p *poll) until(want string) bool {
	p.t.Helper()
	for range 3 {
		code, body, _ := p.do("GET", "", "")
		if code != 200 {
			return false
		}
		if strings.Contains(body, want) {
			return true
		}
	}
	return false
}
