package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// crashPackets are the packets that crashed the bridge through go-socket.io's decoder: headers
// claiming a huge number of binary attachments, on an EVENT and on a DISCONNECT.
var crashPackets = []string{`451000000000000000-["x"]`, `411000000000000000-["x"]`}

// rawPolling is an Engine.IO long-polling session driven by hand, as curl would.
type rawPolling struct {
	t   *testing.T
	url string
}

var sidPattern = regexp.MustCompile(`"sid":"([^"]+)"`)

func openPolling(t *testing.T, b *bridge) *rawPolling {
	t.Helper()
	resp, err := http.Get(b.URL + "/socket.io/?EIO=3&transport=polling&b64=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := sidPattern.FindStringSubmatch(string(body))
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("polling handshake: %d %s", resp.StatusCode, body)
	}
	return &rawPolling{t: t, url: b.URL + "/socket.io/?EIO=3&transport=polling&b64=1&sid=" + m[1]}
}

func (p *rawPolling) post(packet string) int {
	p.t.Helper()
	body := strconv.Itoa(len(packet)) + ":" + packet
	resp, err := http.Post(p.url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// alive checks that the process still runs and still serves room clients.
func alive(t *testing.T, b *bridge, watcher *client, n int) {
	t.Helper()
	select {
	case <-b.exited:
		t.Fatalf("the bridge exited: %v", b.exitErr)
	default:
	}
	if r := b.get("/healthz", ""); r.Status != 200 {
		t.Fatalf("/healthz: %d", r.Status)
	}
	b.dialIn(callSID(n), unknownCaller, numA, confSID(1), topicA, n)
	checkPhone(t, watcher.nextPresence(), online, topicA, callSID(n), joined)
	if strings.Contains(b.Logs(), "panic") {
		t.Fatalf("the bridge logged a panic:\n%s", b.Logs())
	}
}

// TestCrashPackets: the packets that crashed the process, sent without a token over
// websocket and over polling, are refused and crash nothing; the refusals are counted.
func TestCrashPackets(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	watcher := subscriber(t, b, topicA, "websocket")
	n := 0
	for _, pkt := range crashPackets {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.URL, "http")+"/socket.io/?EIO=3&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.WriteMessage(websocket.TextMessage, []byte(pkt))
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				if strings.Contains(err.Error(), "timeout") {
					t.Errorf("websocket %q: still open", pkt)
				}
				break
			}
		}
		ws.Close()
		n++
		alive(t, b, watcher, n)

		p := openPolling(t, b)
		if code := p.post(pkt); code != http.StatusBadRequest {
			t.Errorf("polling %q: %d; want 400", pkt, code)
		}
		n++
		alive(t, b, watcher, n)
	}
	metrics := b.get("/metrics", "").Body
	// The EVENT claims attachments (a binary packet); the DISCONNECT's header is malformed.
	if !strings.Contains(metrics, `dialin_room_requests_refused_total{kind="binary"} 2`) ||
		!strings.Contains(metrics, `dialin_room_requests_refused_total{kind="packet"} 2`) {
		t.Errorf("refusals not counted:\n%s", grepLines(metrics, "refused"))
	}
}

// TestSessionTakeover: the attack that took over a polling client's session (a tokenless
// websocket naming a counter session id) fails: session ids are random, and a guessed one is
// refused.
func TestSessionTakeover(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	victim := subscriber(t, b, topicA, "polling")
	for _, sid := range []string{"1", "2", "3"} {
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.URL, "http")+"/socket.io/?EIO=3&transport=websocket&sid="+sid, nil)
		if err == nil {
			ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
			ws.WriteMessage(websocket.TextMessage, []byte("5"))
			ws.Close()
			t.Fatalf("a websocket naming session %q was accepted", sid)
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a websocket naming session %q: %v; want 400", sid, err)
		}
	}
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, victim.nextPresence(), online, topicA, callSID(1), joined)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
