package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// tryPost posts a signed webhook and returns its status, or 0 when the bridge did not answer
// (it is stopping).
func (b *bridge) tryPost(path string, form url.Values) int {
	req, err := http.NewRequest(http.MethodPost, b.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sign(authToken, b.env["DIALIN_PUBLIC_URL"]+path, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestShutdownHandsOnEvents: two instances on one Redis; webhooks stream through A, from
// many callers at once, when A gets SIGTERM. Every join A answered 204 reaches the
// socket.io-client 2.x clients of B, through the fan-out: A hands every event of a webhook
// it answered to the fan-out before it stops (contract §4 Shutdown). Reconciliation, whose
// catch-up from the store would repair a lost event, runs only at start here.
func TestShutdownHandsOnEvents(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	env := redisEnv(t, nil, redis)
	env["DIALIN_RECONCILE_INTERVAL"] = "1h"
	a := startBridge(t, env)
	b := startBridge(t, env)
	waitReady(t, a, 200)
	waitReady(t, b, 200)
	onB := subscriber(t, b, topicA, "websocket")

	const streams = 32
	var (
		next     atomic.Int64
		mu       sync.Mutex
		answered = map[string]bool{} // joins A answered 204
		wg       sync.WaitGroup
		started  = make(chan struct{})
		once     sync.Once
	)
	conf := confSID(1)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				sid := callSID(i)
				if a.tryPost("/twilio/voice", voiceForm(sid, unknownCaller, numA)) != 200 {
					return
				}
				switch a.tryPost("/twilio/conference", confForm("participant-join", conf, topicA, i, sid)) {
				case 204:
					mu.Lock()
					answered[sid] = true
					n := len(answered)
					mu.Unlock()
					if n == 40 {
						once.Do(func() { close(started) })
					}
				case 0:
					return
				default:
					// 503 while stopping: not answered, so owed nothing.
				}
			}
		}()
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("webhooks did not stream")
	}
	mu.Lock()
	before := len(answered)
	mu.Unlock()
	if code := a.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("A exited %d on SIGTERM; want 0", code)
	}
	wg.Wait()

	mu.Lock()
	want := len(answered)
	mu.Unlock()
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < want {
		select {
		case m, ok := <-onB.msgs:
			if !ok {
				t.Fatal("B's client ended")
			}
			if m.Type != "event" || m.Name != "PRESENCE_EVENT_RESPONSE" {
				continue
			}
			var p presence
			if err := json.Unmarshal(m.Data, &p); err != nil {
				t.Fatal(err)
			}
			if p.Category == online && answered[p.Sender.ID] {
				seen[p.Sender.ID] = true
			}
		case <-deadline:
			var missing []string
			for sid := range answered {
				if !seen[sid] {
					missing = append(missing, sid)
				}
			}
			t.Fatalf("B's client saw %d of the %d joins A answered; missing %v", len(seen), want, missing)
		}
	}
	t.Logf("B's client saw all %d joins A answered before it stopped, %d of them after the SIGTERM was sent", want, want-before)
}
