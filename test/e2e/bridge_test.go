// Package e2e runs the built dialin-bridge binary as an operator would and checks what room
// clients (the real socket.io-client 2.x, in node) and Twilio see. Webhooks are signed with
// Twilio's documented algorithm, implemented here independently of the code under test, and
// Twilio's REST API is a local server answering its documented JSON.
package e2e

import (
	"bytes"
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

	"github.com/dialin-bridge/dialin-bridge/internal/logbuf"
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
	bin     string // the binary to run; empty: the race-instrumented one TestMain built
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
	return startBinary(t, env, "")
}

// startBinary is startBridge with another binary than the race-instrumented one (empty:
// that one).
func startBinary(t testing.TB, env map[string]string, bin string) *bridge {
	t.Helper()
	env = clone(env)
	if env["DIALIN_LISTEN_ADDR"] == "" {
		env["DIALIN_LISTEN_ADDR"] = freeAddr(t)
	}
	if _, ok := env["DIALIN_PUBLIC_URL"]; !ok {
		env["DIALIN_PUBLIC_URL"] = "http://" + env["DIALIN_LISTEN_ADDR"]
	}
	b := &bridge{t: t, URL: "http://" + env["DIALIN_LISTEN_ADDR"], env: env, bin: bin}
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
	bin := binary
	if b.bin != "" {
		bin = b.bin
	}
	cmd := exec.Command(bin)
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

// LogsWritten is the logs once every line logged so far is written: the bridge gathers info
// lines and writes them on a timer, so a check that a line is absent waits for it.
func (b *bridge) LogsWritten() string {
	time.Sleep(3 * logbuf.DefaultInterval)
	return b.Logs()
}

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

const eventWait = 5 * time.Second

const quiet = 400 * time.Millisecond
