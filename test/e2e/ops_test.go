package e2e

import (
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// parties lists a topic's phone parties through the operator API.
func (b *bridge) parties(topic string) map[string]presence {
	b.t.Helper()
	r := b.get("/api/topics/"+topic+"/parties", token("op", "admin", "*"))
	if r.Status != 200 {
		b.t.Fatalf("parties API: %d %s", r.Status, r.Body)
	}
	var events []presence
	if err := json.Unmarshal([]byte(r.Body), &events); err != nil {
		b.t.Fatal(err)
	}
	out := map[string]presence{}
	for _, e := range events {
		out[e.Sender.ID] = e
	}
	return out
}

// TestKillAndRestart: parties online when the process is SIGKILLed are there after restart;
// a call that ended while the bridge was down (Twilio no longer lists it) gets its leaves
// from reconciliation at start and is gone.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	env := prodEnv(t, twilio)
	env["DIALIN_RECONCILE_INTERVAL"] = "1h" // only the reconciliation at start
	b := startBridge(t, env)
	conf := confSID(1)
	for i := 1; i <= 3; i++ {
		twilio.setLive(conf, topicA, callSID(i))
		b.dialIn(callSID(i), knownCaller, numA, conf, topicA, i)
	}
	b.mustPost("/twilio/conference", confForm("participant-mute", conf, topicA, 4, callSID(2)), 204)
	if n := len(b.parties(topicA)); n != 3 {
		t.Fatalf("%d parties before the kill; want 3", n)
	}
	b.stop(syscall.SIGKILL)

	twilio.end(callSID(3)) // hung up while the bridge was down
	b.restart()
	b.waitReady()
	got := b.parties(topicA)
	if len(got) != 2 || got[callSID(1)].Sender.DisplayName != "John Smith" || !got[callSID(2)].Content.MediaSession.SelfMuted {
		t.Fatalf("after restart: %v; want calls 1 and 2 (2 muted), as before the kill", got)
	}
	if _, ok := got[callSID(3)]; ok {
		t.Error("the call that ended while the bridge was down is still listed")
	}
	// The survivors go on as usual, and leave once.
	c := subscriber(t, b, topicA, "websocket")
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 5, callSID(1)), 204)
	checkPhone(t, c.nextPresence(), leaves, topicA, callSID(1), gone)
	b.mustPost("/twilio/status", statusForm(callSID(3), "completed", 2), 204)
	c.expectNothing(quiet)
}

// TestLostWebhooks: a call whose webhooks never arrive leaves when reconciliation finds
// Twilio no longer lists it; one that joined moments ago is not ended by a stale listing;
// a failing Twilio changes nothing.
func TestLostWebhooks(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	env := prodEnv(t, twilio)
	env["DIALIN_RECONCILE_INTERVAL"] = "300ms"
	b := startBridge(t, env)
	c := subscriber(t, b, topicA, "polling")
	conf := confSID(1)
	twilio.setLive(conf, topicA, callSID(1), callSID(2))
	b.dialIn(callSID(1), unknownCaller, numA, conf, topicA, 1)
	b.dialIn(callSID(2), unknownCaller, numA, conf, topicA, 2)
	c.nextPresence()
	c.nextPresence()
	c.expectNothing(time.Second) // several reconciliations: both still listed

	twilio.fail(503)
	twilio.end(callSID(1))
	c.expectNothing(time.Second) // Twilio failing: nothing changes
	twilio.fail(0)
	start := time.Now()
	checkPhone(t, c.nextPresence(), leaves, topicA, callSID(1), gone)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("leaves came %v after Twilio answered again", d)
	}
	c.expectNothing(time.Second)
	if got := b.parties(topicA); len(got) != 1 {
		t.Errorf("parties %v; want call 2 only", got)
	}
}

// TestReadiness: /readyz is not ready until the first reconciliation has run (or failed).
func TestReadiness(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	twilio.slow(2 * time.Second)
	b := startBridge(t, prodEnv(t, twilio))
	if r := b.get("/readyz", ""); r.Status != 503 {
		t.Errorf("/readyz during the first reconciliation: %d; want 503", r.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.get("/readyz", "").Status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBurst: 200 calls join and leave at once over two topics. Every subscriber sees exactly
// its topic's events, one online and one leaves per call, and the roster ends empty.
func TestBurst(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	subs := map[string][]*client{
		topicA: {subscriber(t, b, topicA, "websocket"), subscriber(t, b, topicA, "polling")},
		topicB: {subscriber(t, b, topicB, "websocket"), subscriber(t, b, topicB, "websocket")},
	}
	const calls = 200
	topicOf := func(i int) (string, string, string) {
		if i%2 == 0 {
			return topicA, numA, confSID(1)
		}
		return topicB, numB, confSID(2)
	}
	var seq sync.Map
	nextSeq := func(conf string) int {
		for {
			v, _ := seq.LoadOrStore(conf, new(int64))
			p := v.(*int64)
			// callbacks of one conference are numbered in the order they are sent
			n := int(atomicAdd(p))
			return n
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, calls)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				topic, num, conf := topicOf(i)
				sid := callSID(1000 + i)
				for _, req := range []struct {
					path string
					form func() map[string][]string
					want int
				}{
					{"/twilio/voice", func() map[string][]string { return voiceForm(sid, fmt.Sprintf("+1415555%04d", i), num) }, 200},
					{"/twilio/conference", func() map[string][]string { return confForm("participant-join", conf, topic, nextSeq(conf), sid) }, 204},
					{"/twilio/conference", func() map[string][]string { return confForm("participant-leave", conf, topic, nextSeq(conf), sid) }, 204},
				} {
					if r := b.post(req.path, req.form()); r.Status != req.want {
						errs <- fmt.Sprintf("%s %s: %d %s", sid, req.path, r.Status, r.Body)
					}
				}
			}
		}()
	}
	for i := 0; i < calls; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for topic, cs := range subs {
		for n, c := range cs {
			seen := map[string][]string{}
			for i := 0; i < calls; i++ { // calls/2 onlines and calls/2 leaves
				p := c.nextPresence()
				if p.TopicID != topic {
					t.Fatalf("subscriber %d of %s got an event of %s", n, topic, p.TopicID)
				}
				seen[p.Sender.ID] = append(seen[p.Sender.ID], p.Category)
			}
			c.expectNothing(quiet)
			if len(seen) != calls/2 {
				t.Errorf("subscriber %d of %s saw %d calls; want %d", n, topic, len(seen), calls/2)
			}
			for sid, cats := range seen {
				if len(cats) != 2 || cats[0] != online || cats[1] != leaves {
					t.Errorf("subscriber %d of %s, %s: %v; want online then leaves", n, topic, sid, cats)
				}
			}
		}
	}
	for _, topic := range []string{topicA, topicB} {
		if got := b.parties(topic); len(got) != 0 {
			t.Errorf("%s still lists %d parties", topic, len(got))
		}
	}
}

var atomicMu sync.Mutex

func atomicAdd(p *int64) int64 {
	atomicMu.Lock()
	defer atomicMu.Unlock()
	*p++
	return *p
}

// TestSIGTERM: the bridge stops cleanly within 10 seconds with clients connected (a polling
// one included), answers what is in flight, and exits 0.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	subscriber(t, b, topicA, "polling")
	subscriber(t, b, topicA, "websocket")
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	start := time.Now()
	if code := b.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0\n%s", code, b.Logs())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("SIGTERM took %v; want under 10 s", d)
	}
	// The roster was closed cleanly: a restart finds the call.
	b.restart()
	if got := b.parties(topicA); len(got) != 1 {
		t.Errorf("after SIGTERM and restart: %d parties; want 1", len(got))
	}
}
