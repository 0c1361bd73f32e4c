// Package e2e runs the built dialin-bridge binary as an operator would and checks what room
// clients (the real socket.io-client 2.x, in node) and Twilio see. Webhooks are signed with
// Twilio's documented algorithm, implemented here independently of the code under test, and
// Twilio's REST API is a local server answering its documented JSON.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"
)

const (
	authToken = "e2e0auth0token0123456789abcdef01"
	jwtSecret = "e2e-jwt-secret-0123456789abcdef"
	accountID = twiliotest.AccountSID

	topicA = "5a1339868509b80641a56655"
	topicB = "5f06c25e574ca36b54cb4cdf"
	numA   = "+15005550006"
	numB   = "+15005550007"
	pinA   = "482913"
	pinB   = "771204"

	knownCaller   = "+14155550100"
	unknownCaller = "+14155550123"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dialin-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "dialin-bridge")
	build := exec.Command("go", "build", "-race", "-o", binary, "./cmd/dialin-bridge")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build dialin-bridge:", err)
		os.Exit(1)
	}
	if _, err := os.Stat(filepath.Join(testDir(), "node_modules", "socket.io-client")); err != nil {
		fmt.Fprintln(os.Stderr, "socket.io-client is not installed: run npm ci in test/e2e (scripts/test.sh does)")
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func repoRoot() string { return filepath.Join(testDir(), "..", "..") }

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// roomsJSON is the rooms file of most tests: two topics and one directory caller.
const roomsJSON = `{
  "topics": [
    { "topicId": "` + topicA + `", "pin": "` + pinA + `", "numbers": ["` + numA + `"] },
    { "topicId": "` + topicB + `", "pin": "` + pinB + `", "numbers": ["` + numB + `"] }
  ],
  "callers": [
    { "number": "` + knownCaller + `", "username": "jsmith@fakeemail.com", "displayname": "John Smith",
      "picture_url": "https://example.com/p/jsmith.png", "role": "member" }
  ]
}`

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// bridge is one running dialin-bridge process.
type bridge struct {
	t       testing.TB
	URL     string
	env     map[string]string
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
	exitErr error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prodEnv is a production-mode environment: signatures, tokens, the rooms file, bolt.
func prodEnv(t testing.TB, twilio *fakeTwilio) map[string]string {
	dir := t.TempDir()
	env := map[string]string{
		"DIALIN_DEV":                 "false",
		"TWILIO_ACCOUNT_SID":         accountID,
		"TWILIO_AUTH_TOKEN":          authToken,
		"DIALIN_JWT_SECRET":          jwtSecret,
		"DIALIN_ROOMS_FILE":          writeFile(t, dir, "rooms.json", roomsJSON),
		"DIALIN_DATA_DIR":            filepath.Join(dir, "data"),
		"DIALIN_DEFAULT_PICTURE_URL": "https://example.com/p/default.png",
	}
	if twilio != nil {
		env["DIALIN_TWILIO_API_URL"] = twilio.URL
	} else {
		env["DIALIN_TWILIO_API_URL"] = "http://127.0.0.1:1" // nothing answers: reconciliation fails and changes nothing
	}
	return env
}

// startBridge runs the binary with exactly env (plus PATH and HOME), on a free port unless
// env names one, and waits for /healthz.
func startBridge(t testing.TB, env map[string]string) *bridge {
	t.Helper()
	env = clone(env)
	if env["DIALIN_LISTEN_ADDR"] == "" {
		env["DIALIN_LISTEN_ADDR"] = freeAddr(t)
	}
	if _, ok := env["DIALIN_PUBLIC_URL"]; !ok {
		env["DIALIN_PUBLIC_URL"] = "http://" + env["DIALIN_LISTEN_ADDR"]
	}
	b := &bridge{t: t, URL: "http://" + env["DIALIN_LISTEN_ADDR"], env: env}
	b.start()
	t.Cleanup(func() {
		b.stop(syscall.SIGTERM)
		if t.Failed() {
			logs := b.Logs()
			if len(logs) > 20000 {
				logs = "…" + logs[len(logs)-20000:]
			}
			t.Logf("bridge %s logs:\n%s", b.URL, logs)
		}
	})
	return b
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (b *bridge) start() {
	t := b.t
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=halt_on_error=1"}
	for k, v := range b.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b.logs == nil {
		b.logs = &syncBuffer{}
	}
	cmd.Stdout, cmd.Stderr = b.logs, b.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.cmd = cmd
	b.exited = make(chan struct{})
	go func() {
		b.exitErr = cmd.Wait()
		close(b.exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(b.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-b.exited:
			t.Fatalf("bridge exited at start: %v\n%s", b.exitErr, b.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge not healthy within 20 s\n%s", b.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop signals the process and waits for it; it returns the exit code.
func (b *bridge) stop(sig syscall.Signal) int {
	select {
	case <-b.exited:
	default:
		b.cmd.Process.Signal(sig)
		select {
		case <-b.exited:
		case <-time.After(15 * time.Second):
			b.cmd.Process.Kill()
			<-b.exited
			b.t.Errorf("bridge did not exit within 15 s of %v", sig)
		}
	}
	if strings.Contains(b.logs.String(), "WARNING: DATA RACE") {
		b.t.Errorf("data race in the bridge:\n%s", b.logs)
	}
	return b.cmd.ProcessState.ExitCode()
}

// restart starts the same bridge again (same port, data and logs).
func (b *bridge) restart() { b.start() }

func (b *bridge) Logs() string { return b.logs.String() }

// sign is X-Twilio-Signature, computed as Twilio documents it.
var sign = twiliotest.Sign

type response struct {
	Status int
	Body   string
	Header http.Header
}

// post sends a webhook signed for the bridge's public URL.
func (b *bridge) post(path string, form url.Values) response {
	return b.postWith(path, form, sign(authToken, b.env["DIALIN_PUBLIC_URL"]+path, form))
}

// postWith sends a webhook with the given signature ("" for none).
func (b *bridge) postWith(path string, form url.Values, signature string) response {
	b.t.Helper()
	return b.postRaw(path, form.Encode(), signature)
}

func (b *bridge) postRaw(path, body, signature string) response {
	b.t.Helper()
	return b.send(http.MethodPost, path, body, signature)
}

// send is one webhook request, with the given signature ("" for none).
func (b *bridge) send(method, path, body, signature string) response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: string(rb), Header: resp.Header}
}

func (b *bridge) get(path, bearer string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.URL+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: string(rb), Header: resp.Header}
}

// mustPost posts a signed webhook and fails unless the status is want.
func (b *bridge) mustPost(path string, form url.Values, want int) response {
	b.t.Helper()
	r := b.post(path, form)
	if r.Status != want {
		b.t.Fatalf("POST %s %v: status %d (%s); want %d", path, form, r.Status, strings.TrimSpace(r.Body), want)
	}
	return r
}

// Twilio request bodies, with the parameters Twilio sends.
var (
	callSID    = twiliotest.CallSID
	confSID    = twiliotest.ConfSID
	voiceForm  = twiliotest.Voice
	confForm   = twiliotest.Conference
	statusForm = twiliotest.Status
)

// dialIn routes a call to its topic by number and joins it to the conference.
func (b *bridge) dialIn(sid, from, to, conf, topic string, seq int) {
	b.t.Helper()
	b.mustPost("/twilio/voice", voiceForm(sid, from, to), 200)
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topic, seq, sid), 204)
}

func token(sub, role string, topics ...string) string {
	return jwttest.HS256(jwtSecret, map[string]any{
		"sub": sub, "name": "User " + sub, "role": role, "topics": topics,
		"exp": time.Now().Add(time.Hour).Unix(),
	})
}

// client is one room client: node running roomclient.js with socket.io-client 2.x.
type client struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	msgs  chan msg
}

type msg struct {
	Type   string          `json:"type"`
	Name   string          `json:"name"`
	Data   json.RawMessage `json:"data"`
	Error  string          `json:"error"`
	Reason string          `json:"reason"`
}

// connect starts a client; it does not wait for the connection (see connected).
func connect(t testing.TB, b *bridge, tok, transport string) *client {
	t.Helper()
	args := []string{filepath.Join(testDir(), "roomclient.js"), b.URL, transport}
	if tok != "" {
		args = append(args, tok)
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = testDir()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, cmd: cmd, stdin: stdin, msgs: make(chan msg, 4096)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var m msg
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				c.msgs <- m
			}
		}
		close(c.msgs)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return c
}

// subscriber connects a client with a token for topic and subscribes it.
func subscriber(t testing.TB, b *bridge, topic, transport string) *client {
	t.Helper()
	c := connect(t, b, token("user-"+topic[:6], "member", topic), transport)
	c.connected()
	c.subscribe(topic)
	return c
}

const eventWait = 5 * time.Second

func (c *client) next(d time.Duration) (msg, bool) {
	select {
	case m, ok := <-c.msgs:
		return m, ok
	case <-time.After(d):
		return msg{}, false
	}
}

func (c *client) connected() {
	c.t.Helper()
	for {
		m, ok := c.next(eventWait)
		switch {
		case !ok:
			c.t.Fatal("client did not connect")
		case m.Type == "connect":
			return
		case m.Type == "connect_error" || m.Type == "disconnect" || m.Type == "error":
			c.t.Fatalf("client could not connect: %+v", m)
		}
	}
}

// transport asks which transport the client's connection is on now. Events that arrive
// meanwhile fail the test.
func (c *client) transport() string {
	c.t.Helper()
	if _, err := c.stdin.Write([]byte(`{"transport":true}` + "\n")); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatal("client ended while asked for its transport")
			}
			if m.Type == "transport" {
				return m.Name
			}
			if m.Type == "event" {
				c.t.Fatalf("event %s while asking for the transport", m.Name)
			}
		case <-deadline:
			c.t.Fatal("client did not say its transport")
		}
	}
}

// refused asserts that the connection is refused: it never gets to subscribe.
func (c *client) refused() {
	c.t.Helper()
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return
			}
			switch m.Type {
			case "connect_error", "disconnect", "error":
				return
			case "connect":
				// socket.io 2.x may report the transport connection before the namespace
				// refusal; it must not be able to subscribe.
				c.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicA, "type": "topic"}})
			case "event":
				if m.Name == "CHANNEL_SUBSCRIBED" {
					c.t.Fatalf("refused client subscribed: %+v", m)
				}
			}
		case <-deadline:
			c.t.Fatal("connection was not refused")
		}
	}
}

func (c *client) emit(name string, data any) {
	c.t.Helper()
	line, _ := json.Marshal(map[string]any{"emit": name, "data": data})
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		c.t.Fatal(err)
	}
}

// emitRaw emits with exactly the given arguments (none, several, or of any JSON type).
func (c *client) emitRaw(name string, args ...any) {
	c.t.Helper()
	if args == nil {
		args = []any{}
	}
	line, _ := json.Marshal(map[string]any{"emit": name, "emitRaw": args})
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) close() {
	line, _ := json.Marshal(map[string]any{"close": true})
	c.stdin.Write(append(line, '\n'))
}

// waitEvent returns the next server event named name, skipping others.
func (c *client) waitEvent(name string) json.RawMessage {
	c.t.Helper()
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("client ended waiting for %s", name)
			}
			if m.Type == "event" && m.Name == name {
				return m.Data
			}
			if m.Type == "disconnect" || m.Type == "error" {
				c.t.Fatalf("client lost its connection waiting for %s: %+v", name, m)
			}
		case <-deadline:
			c.t.Fatalf("no %s within %v", name, eventWait)
		}
	}
}

func (c *client) subscribe(topic string) {
	c.t.Helper()
	c.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topic, "type": "topic"}})
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatal("client ended while subscribing")
			}
			if m.Type == "event" && m.Name == "CHANNEL_SUBSCRIBED" {
				return
			}
			if m.Type == "event" && m.Name == "SUBSCRIBE_CHANNEL_FAILED" || m.Type == "disconnect" {
				c.t.Fatalf("subscribe %s failed: %+v %s", topic, m, m.Data)
			}
		case <-deadline:
			c.t.Fatalf("no CHANNEL_SUBSCRIBED for %s", topic)
		}
	}
}

// presence is a PRESENCE_EVENT_RESPONSE as clients decode it.
type presence struct {
	ID       string `json:"_id"`
	Category string `json:"category"`
	TopicID  string `json:"topicId"`
	Sender   struct {
		ID          string `json:"_id"`
		Type        string `json:"type"`
		Username    string `json:"username"`
		DisplayName string `json:"displayname"`
		PictureURL  string `json:"picture_url"`
	} `json:"sender"`
	Content struct {
		Offline      bool   `json:"offline"`
		Role         string `json:"role"`
		MediaSession struct {
			Video, Audio, Connected, Screenshare, SelfMuted, Phone bool
		} `json:"mediaSession"`
		Idle      bool   `json:"idle"`
		Desktop   bool   `json:"desktop"`
		EmitedBy  string `json:"emitedby"`
		SessionID string `json:"sessionId"`
	} `json:"content"`
	LoopbackMetadata json.RawMessage `json:"loopbackMetadata"`
	Error            string          `json:"error"`
	Raw              json.RawMessage `json:"-"`
}

// nextPresence returns the next PRESENCE_EVENT_RESPONSE.
func (c *client) nextPresence() presence {
	c.t.Helper()
	raw := c.waitEvent("PRESENCE_EVENT_RESPONSE")
	var p presence
	if err := json.Unmarshal(raw, &p); err != nil {
		c.t.Fatalf("decode %s: %v", raw, err)
	}
	p.Raw = raw
	return p
}

// expectNothing asserts that no server event arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return
			}
			if m.Type == "event" {
				c.t.Fatalf("unexpected %s: %s", m.Name, m.Data)
			}
		case <-deadline:
			return
		}
	}
}

const quiet = 400 * time.Millisecond
