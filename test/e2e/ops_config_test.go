package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
)

// TestTokens: connections without a valid token are refused; a token grants its topics only.
func TestTokens(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	exp := time.Now().Add(time.Hour).Unix()
	refused := map[string]string{
		"no token":     "",
		"garbage":      "not-a-jwt",
		"wrong key":    jwttest.HS256("another secret", map[string]any{"sub": "u", "topics": []string{"*"}, "role": "member", "exp": exp}),
		"expired":      jwttest.HS256(jwtSecret, map[string]any{"sub": "u", "topics": []string{"*"}, "role": "member", "exp": time.Now().Add(-time.Minute).Unix()}),
		"no expiry":    jwttest.HS256(jwtSecret, map[string]any{"sub": "u", "topics": []string{"*"}, "role": "member"}),
		"alg none":     "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(token("u", "admin", "*"), ".")[1] + ".",
		"no subject":   jwttest.HS256(jwtSecret, map[string]any{"topics": []string{"*"}, "role": "member", "exp": exp}),
		"unknown role": jwttest.HS256(jwtSecret, map[string]any{"sub": "u", "topics": []string{"*"}, "role": "owner", "exp": exp}),
	}
	for name, tok := range refused {
		t.Run(name, func(t *testing.T) {
			connect(t, b, tok, "websocket").refused()
		})
	}
	t.Run("topic not granted", func(t *testing.T) {
		c := connect(t, b, token("u1", "member", topicB), "websocket")
		c.connected()
		c.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicA, "type": "topic"}})
		raw := c.waitEvent("SUBSCRIBE_CHANNEL_FAILED")
		if !strings.Contains(string(raw), topicA) || !strings.Contains(string(raw), `"error"`) {
			t.Errorf("SUBSCRIBE_CHANNEL_FAILED %s; want {channel, error}", raw)
		}
		b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
		c.expectNothing(quiet)
	})
	t.Run("any topic", func(t *testing.T) {
		c := connect(t, b, token("u2", "guest", "*"), "polling")
		c.connected()
		c.subscribe(topicB) // fails the test unless CHANNEL_SUBSCRIBED arrives
		c.subscribe(topicA)
	})
}

// TestDevMode: no Twilio or JWT settings; unsigned webhooks and tokenless clients work.
func TestDevMode(t *testing.T) {
	t.Parallel()
	b := startBridge(t, map[string]string{"DIALIN_DEV": "true", "DIALIN_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	if !strings.Contains(b.Logs(), "DEVELOPMENT MODE") {
		t.Errorf("no development-mode warning in the logs:\n%s", b.Logs())
	}
	c := connect(t, b, "", "websocket")
	c.connected()
	c.subscribe(topicA)
	if r := b.postWith("/twilio/voice", voiceForm(callSID(1), unknownCaller, numA), ""); r.Status != 200 {
		t.Fatalf("unsigned voice webhook in dev mode: %d %s", r.Status, r.Body)
	}
	if r := b.postWith("/twilio/conference", confForm("participant-join", confSID(1), topicA, 1, callSID(1)), ""); r.Status != 204 {
		t.Fatalf("unsigned join in dev mode: %d %s", r.Status, r.Body)
	}
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
}

// TestConfigErrors: a bad configuration stops the start with one message naming each
// offending variable.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	run := func(env ...string) (string, int) {
		cmd := exec.Command(binary)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run()
	if code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("empty environment: exit %d, output %q; want non-zero and one line", code, out)
	}
	for _, name := range []string{"DIALIN_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "DIALIN_JWT_SECRET"} {
		if !strings.Contains(out, name) {
			t.Errorf("empty environment: %q does not name %s", out, name)
		}
	}
	out, code = run("DIALIN_DEV=true", "DIALIN_CALLER_ID=partial", "DIALIN_RECONCILE_INTERVAL=soon")
	if code == 0 || !strings.Contains(out, "DIALIN_CALLER_ID") || !strings.Contains(out, "DIALIN_RECONCILE_INTERVAL") {
		t.Errorf("bad caller id and interval: exit %d, %q; want both named", code, out)
	}
	dir := t.TempDir()
	bad := writeFile(t, dir, "rooms.json", `{"topics": [], "callers": [], "colour": "blue"}`)
	out, code = run("DIALIN_DEV=true", "DIALIN_ROOMS_FILE="+bad, "DIALIN_LISTEN_ADDR="+freeAddr(t), "DIALIN_DATA_DIR="+dir)
	if code == 0 || !strings.Contains(out, "colour") {
		t.Errorf("rooms file with an unknown field: exit %d, %q; want a refusal naming it", code, out)
	}
}

// TestReloadRooms: SIGHUP reloads the rooms file; a bad file keeps the old one.
func TestReloadRooms(t *testing.T) {
	t.Parallel()
	env := prodEnv(t, nil)
	b := startBridge(t, env)
	newTopic, newNumber := "6a0000000000000000000001", "+15005550010"
	x := parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(1), unknownCaller, newNumber), 200))
	if x.Dial != nil {
		t.Fatalf("unknown number routed before the reload: %+v", x)
	}
	updated := strings.Replace(roomsJSON, `"topics": [`, `"topics": [ { "topicId": "`+newTopic+`", "numbers": ["`+newNumber+`"] },`, 1)
	writeFile(t, filepath.Dir(env["DIALIN_ROOMS_FILE"]), "rooms.json", updated)
	b.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		x = parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(2), unknownCaller, newNumber), 200))
		if x.Dial != nil {
			checkConference(t, b, x, newTopic)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new number not routed after SIGHUP")
		}
		time.Sleep(100 * time.Millisecond)
	}
	writeFile(t, filepath.Dir(env["DIALIN_ROOMS_FILE"]), "rooms.json", `{"topics": [`)
	b.cmd.Process.Signal(syscall.SIGHUP)
	// The bridge says when it read the bad file; until then the old rooms would be in force
	// whether or not the signal is handled.
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(b.Logs(), "rooms file reload failed") {
		if time.Now().After(deadline) {
			t.Fatal("no reload failure logged after SIGHUP with a bad file")
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkConference(t, b, parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(3), unknownCaller, newNumber), 200)), newTopic)
}

// TestPublicKeyTokens: a bridge that verifies tokens with a PEM public key (RS256) only.
func TestPublicKeyTokens(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	env := prodEnv(t, nil)
	delete(env, "DIALIN_JWT_SECRET")
	env["DIALIN_JWT_PUBLIC_KEY_FILE"] = writeFile(t, t.TempDir(), "jwt.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	b := startBridge(t, env)

	enc := func(v any) string { j, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(j) }
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		enc(map[string]any{"sub": "rsa-user", "topics": []string{topicA}, "role": "member", "exp": time.Now().Add(time.Hour).Unix()})
	digest := sha256.Sum256([]byte(signing))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	rs256 := signing + "." + base64.RawURLEncoding.EncodeToString(sig)

	c := connect(t, b, rs256, "websocket")
	c.connected()
	c.subscribe(topicA)
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
	connect(t, b, token("hs-user", "member", topicA), "websocket").refused() // no secret configured
}
