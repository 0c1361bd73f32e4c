package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// dialin is one call of a stream: what the bridges answered, and what every client must end
// up showing.
type dialin struct {
	sid, from, name string
	leave           bool      // the caller hangs up after joining
	joinAcked       time.Time // when a bridge answered its participant-join 2xx (zero: never)
	leaveAcked      time.Time
}

// streamer sends dial-ins through the bridges as Twilio would: each webhook until a bridge
// answers it 2xx (Twilio's retries, sooner), alternating the bridges so that a call's
// incoming webhook and its conference callbacks reach different instances.
type streamer struct {
	t       *testing.T
	twilio  *fakeTwilio
	bridges []*bridge
	conf    string
	http    *http.Client

	mu        sync.Mutex
	calls     []*dialin
	refused   int                  // non-2xx answers to callbacks that need the store
	firstOK   map[string]time.Time // per bridge: when it answered 2xx the first callback sent after `since`
	since     time.Time
	wg        sync.WaitGroup
	giveUpErr []string
}

func newStreamer(t *testing.T, twilio *fakeTwilio, conf string, bridges ...*bridge) *streamer {
	return &streamer{t: t, twilio: twilio, bridges: bridges, conf: conf,
		http: &http.Client{Timeout: 16 * time.Second}, firstOK: map[string]time.Time{}}
}

// post sends one signed webhook; it never fails the test (it runs in goroutines): a network
// error is status 0.
func (s *streamer) post(b *bridge, path string, form url.Values) int {
	req, _ := http.NewRequest(http.MethodPost, b.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sign(authToken, b.env["DIALIN_PUBLIC_URL"]+path, form))
	resp, err := s.http.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// until sends a webhook to b until it is answered 2xx, for at most 30 s, and returns when.
func (s *streamer) until(b *bridge, path string, form url.Values, callback bool) time.Time {
	deadline := time.Now().Add(30 * time.Second)
	for {
		sent := time.Now()
		st := s.post(b, path, form)
		now := time.Now()
		if st >= 200 && st < 300 {
			if callback {
				s.mu.Lock()
				if !s.since.IsZero() && sent.After(s.since) {
					if _, ok := s.firstOK[b.URL]; !ok {
						s.firstOK[b.URL] = now
					}
				}
				s.mu.Unlock()
			}
			return now
		}
		if callback {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
		}
		if now.After(deadline) {
			s.mu.Lock()
			s.giveUpErr = append(s.giveUpErr, fmt.Sprintf("%s %s: still %d after 30 s", b.URL, path, st))
			s.mu.Unlock()
			return time.Time{}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// markSince starts timing the bridges' first 2xx callback answers.
func (s *streamer) markSince(at time.Time) {
	s.mu.Lock()
	s.since = at
	s.mu.Unlock()
}

// start sends dial-in i in a goroutine of its own: the incoming call through one bridge, the
// join through the next, and for every third call a leave 300 ms later.
func (s *streamer) start(i int) {
	d := &dialin{sid: callSID(1000 + i), from: fmt.Sprintf("+1415556%04d", i), name: fmt.Sprintf("CALLER %04d", i), leave: i%3 == 0}
	s.mu.Lock()
	s.calls = append(s.calls, d)
	s.mu.Unlock()
	in, cb := s.bridges[i%len(s.bridges)], s.bridges[(i+1)%len(s.bridges)]
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.twilio.setCaller(d.sid, d.from, d.name)
		voice := voiceForm(d.sid, d.from, numA)
		voice.Set("CallerName", d.name)
		// The incoming call is answered with TwiML even while no master answers.
		if s.until(in, "/twilio/voice", voice, false).IsZero() {
			return
		}
		// Twilio lists a participant before it sends its join, and stops before its leave.
		s.twilio.setLive(s.conf, topicA, d.sid)
		at := s.until(cb, "/twilio/conference", confForm("participant-join", s.conf, topicA, 2*i+1, d.sid), true)
		s.mu.Lock()
		d.joinAcked = at
		s.mu.Unlock()
		if at.IsZero() || !d.leave {
			return
		}
		time.Sleep(300 * time.Millisecond)
		s.twilio.end(d.sid)
		at = s.until(in, "/twilio/conference", confForm("participant-leave", s.conf, topicA, 2*i+2, d.sid), true)
		s.mu.Lock()
		d.leaveAcked = at
		s.mu.Unlock()
	}()
}

// run starts a dial-in every `every` for `d`, numbering them from first, and returns the next
// number.
func (s *streamer) run(first int, d, every time.Duration) int {
	i := first
	for end := time.Now().Add(d); time.Now().Before(end); i++ {
		s.start(i)
		time.Sleep(every)
	}
	return i
}

// wait waits for every dial-in to be answered (or given up) and fails the test for any
// webhook never answered 2xx.
func (s *streamer) wait() {
	s.wg.Wait()
	for _, e := range s.giveUpErr {
		s.t.Error(e)
	}
}

// expected is each call's final state as the room must show it: online with its caller's
// name, or gone.
func (s *streamer) expected() map[string]*dialin {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*dialin{}
	for _, d := range s.calls {
		if !d.joinAcked.IsZero() {
			out[d.sid] = d
		}
	}
	return out
}

// checkRoster: every join answered 2xx is in the roster with its caller's name, unless its
// leave was answered 2xx too, and then it is not.
func checkRoster(t *testing.T, b *bridge, want map[string]*dialin) {
	t.Helper()
	got := b.parties(topicA)
	for sid, d := range want {
		p, ok := got[sid]
		switch {
		case d.leave && ok:
			t.Errorf("%s: %s left (its leave answered 2xx) but is in the roster", b.URL, sid)
		case !d.leave && !ok:
			t.Errorf("%s: %s joined (answered 2xx) but is not in the roster", b.URL, sid)
		case !d.leave && p.Sender.DisplayName != d.name:
			t.Errorf("%s: %s is named %q; want %q", b.URL, sid, p.Sender.DisplayName, d.name)
		}
	}
	for sid := range got {
		if _, ok := want[sid]; !ok {
			t.Errorf("%s: %s is in the roster, but no join of it was answered 2xx", b.URL, sid)
		}
	}
}

// checkFinalStates drains each client's events until its last event of every call is the
// call's final state (online with the caller's name, or leaves or never shown), for at most
// wait.
func checkFinalStates(t *testing.T, clients []*client, names []string, want map[string]*dialin, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for ci, c := range clients {
		last := map[string]presence{}
		wrong := func() []string {
			var bad []string
			for sid, d := range want {
				p, ok := last[sid]
				switch {
				case d.leave && !ok:
					// Never shown at all (its online and leaves both went while the
					// platform's nodes were not hearing): not shown is its final state.
				case !ok:
					bad = append(bad, sid+": nothing")
				case d.leave && p.Category != leaves:
					bad = append(bad, sid+": "+p.Category+", want leaves")
				case !d.leave && (p.Category != online || p.Sender.DisplayName != d.name):
					bad = append(bad, fmt.Sprintf("%s: %s %q, want online %q", sid, p.Category, p.Sender.DisplayName, d.name))
				}
			}
			return bad
		}
		for {
			m, ok := c.next(100 * time.Millisecond)
			if ok && m.Type == "event" {
				p := c.decodePresence(m)
				if strings.HasPrefix(p.Category, "app.event.presence.party.") {
					last[p.Sender.ID] = p
				}
				continue
			}
			bad := wrong()
			if len(bad) == 0 {
				break
			}
			if time.Now().After(deadline) {
				if len(bad) > 10 {
					bad = append(bad[:10], fmt.Sprintf("and %d more", len(bad)-10))
				}
				t.Errorf("client %s does not show the final state of %d calls: %v", names[ci], len(bad), bad)
				break
			}
		}
	}
}

// watchReady polls /readyz of each bridge every 100 ms until stop is closed, and reports
// whether each answered 503 at least once.
func watchReady(bridges []*bridge, stop chan struct{}) func() []bool {
	seen := make([]bool, len(bridges))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, b := range bridges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if r, err := c.Get(b.URL + "/readyz"); err == nil {
					r.Body.Close()
					if r.StatusCode == http.StatusServiceUnavailable {
						mu.Lock()
						seen[i] = true
						mu.Unlock()
					}
				}
			}
		}()
	}
	return func() []bool {
		wg.Wait()
		return seen
	}
}

// waitPromotion waits up to 15 s for the Sentinels to name a master other than old.
func waitPromotion(t *testing.T, s *sentinelSet, old string) (string, time.Time) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if a := s.masterAddr(); a != "" && a != old {
			return a, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sentinel did not promote a replica within 15 s of the master's death (still %s)", s.masterAddr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSentinelFailover: two bridges share a Redis run with Sentinel (a master, two replicas,
// three Sentinels) with DIALIN_REDIS_MIN_REPLICAS=1. Dial-ins stream through both; the master
// is killed with SIGKILL mid-stream. Sentinel promotes a replica; both bridges say they are
// not ready while no master answers, and answer callbacks 2xx again within 15 s; every join
// answered 2xx before, during and after is in the roster with its caller's name (and every
// leave answered 2xx is gone from it), with reconciliation at start only, so that only the
// store can have kept them; and every socket.io-client 2.x client on either bridge ends with
// each party's final state (the fan-out's catch-up when it subscribes again, since no
// reconciliation runs).
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	set := startSentinels(t)
	twilio := newFakeTwilio(t)
	env := prodEnv(t, twilio)
	env["DIALIN_STORE"] = "redis"
	env["DIALIN_REDIS_URL"] = set.url()
	env["DIALIN_REDIS_MIN_REPLICAS"] = "1"
	env["DIALIN_RECONCILE_INTERVAL"] = "1h" // the roster is the store's alone
	a := startBridge(t, env)
	b := startBridge(t, env)
	waitReady(t, a, 200)
	waitReady(t, b, 200)
	clients := []*client{subscriber(t, a, topicA, "websocket"), subscriber(t, b, topicA, "polling"), subscriber(t, b, topicA, "websocket")}
	names := []string{"A websocket", "B polling", "B websocket"}

	s := newStreamer(t, twilio, confSID(1), a, b)
	old := set.master.addr
	next := s.run(0, 3*time.Second, 100*time.Millisecond)

	stopWatch := make(chan struct{})
	notReady := watchReady([]*bridge{a, b}, stopWatch)
	killed := time.Now()
	s.markSince(killed)
	set.master.kill()
	streamDone := make(chan int)
	go func() { streamDone <- s.run(next, 10*time.Second, 100*time.Millisecond) }()
	promoted, at := waitPromotion(t, set, old)
	t.Logf("Sentinel promoted %s %v after the master was killed", promoted, at.Sub(killed).Round(10*time.Millisecond))
	<-streamDone
	s.wait()
	close(stopWatch)
	seen := notReady()

	for i, br := range []*bridge{a, b} {
		s.mu.Lock()
		first, ok := s.firstOK[br.URL]
		s.mu.Unlock()
		if !ok {
			t.Fatalf("bridge %d answered no callback 2xx after the kill", i)
		}
		took := first.Sub(killed)
		t.Logf("bridge %d: first callback answered 2xx %v after the kill", i, took.Round(10*time.Millisecond))
		if took > 15*time.Second {
			t.Errorf("bridge %d took webhooks again %v after the kill; want within 15 s", i, took)
		}
		if !seen[i] {
			t.Errorf("bridge %d: /readyz never answered 503 while no master answered", i)
		}
	}
	if s.refused == 0 {
		t.Error("no callback was refused: the stream did not cross the failover")
	}
	t.Logf("%d callback answers were not 2xx during the failover (sent again until 2xx)", s.refused)

	want := s.expected()
	if len(want) < 100 {
		t.Fatalf("only %d joins answered", len(want))
	}
	checkRoster(t, a, want)
	checkRoster(t, b, want)
	checkFinalStates(t, clients, names, want, 15*time.Second)
	for i, br := range []*bridge{a, b} {
		t.Logf("bridge %d: fan-out dropped %v (error) %v (queue), caught up %v", i,
			metric(t, br, `dialin_fanout_dropped_total{reason="error"}`), metric(t, br, `dialin_fanout_dropped_total{reason="queue"}`),
			metric(t, br, "dialin_fanout_caught_up_total"))
	}
	waitReady(t, a, 200)
	waitReady(t, b, 200)
}

// TestPlatformSentinelFailover: platform mode's Redis run with Sentinel. The platform's
// nodes (real socket.io 2.x on the socket.io-redis adapter, its clients ioredis's, which
// follow the Sentinels' master) and the bridge both name the Sentinels; the master is killed
// mid-stream. The bridge says it is not ready while the
// platform's Redis has no master, takes every webhook all along (its store is bolt), and
// every client of the platform ends with each party's final state.
func TestPlatformSentinelFailover(t *testing.T) {
	t.Parallel()
	set := startSentinels(t)
	twilio := newFakeTwilio(t)
	nodes := []*platformNode{startPlatformNodeOn(t, set.url(), "v2"), startPlatformNodeOn(t, set.url(), "v2")}
	env := prodEnv(t, twilio)
	env["DIALIN_PLATFORM"] = "socketio-redis"
	env["DIALIN_PLATFORM_REDIS_URL"] = set.url()
	env["DIALIN_PLATFORM_ROOM"] = platformRoom
	env["DIALIN_RECONCILE_INTERVAL"] = "1h"
	br := startBridge(t, env)
	waitReady(t, br, 200)
	clients := []*client{platformClient(t, nodes[0], "ann", "member", topicA), platformClient(t, nodes[1], "bob", "member", topicA)}
	names := []string{"platform node 1", "platform node 2"}

	s := newStreamer(t, twilio, confSID(1), br)
	old := set.master.addr
	next := s.run(0, 3*time.Second, 100*time.Millisecond)
	stopWatch := make(chan struct{})
	notReady := watchReady([]*bridge{br}, stopWatch)
	killed := time.Now()
	set.master.kill()
	streamDone := make(chan int)
	go func() { streamDone <- s.run(next, 8*time.Second, 100*time.Millisecond) }()
	promoted, at := waitPromotion(t, set, old)
	t.Logf("Sentinel promoted %s %v after the platform's master was killed", promoted, at.Sub(killed).Round(10*time.Millisecond))
	<-streamDone
	s.wait()
	close(stopWatch)
	if !notReady()[0] {
		t.Error("/readyz never answered 503 while the platform's Redis had no master")
	}
	if s.refused != 0 {
		t.Errorf("%d callbacks refused: platform mode's Redis must not stop webhooks", s.refused)
	}
	want := s.expected()
	if len(want) < 80 {
		t.Fatalf("only %d joins answered", len(want))
	}
	checkRoster(t, br, want)
	checkFinalStates(t, clients, names, want, 15*time.Second)
	waitReady(t, br, 200)
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, br, "dialin_platform_up") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("dialin_platform_up is not 1 after the failover")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
