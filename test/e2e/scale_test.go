package e2e

import (
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisServer is a private redis-server for one test, so that the test may stop and start it.
type redisServer struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	// ephemeral: no persistence at all, so that a restart comes back empty.
	ephemeral bool
}

func startRedis(t *testing.T) *redisServer { return newRedis(t, false) }

// startEphemeralRedis is a private redis-server without persistence: restarted, it is empty.
func startEphemeralRedis(t *testing.T) *redisServer { return newRedis(t, true) }

func newRedis(t *testing.T, ephemeral bool) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (scripts/test.sh installs it)")
	}
	r := &redisServer{t: t, addr: freeAddr(t), dir: t.TempDir(), ephemeral: ephemeral}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) start() {
	_, port, _ := net.SplitHostPort(r.addr)
	// Append-only with fsync on every write, as the README advises for a shared roster.
	persist := []string{"--appendonly", "yes", "--appendfsync", "always"}
	if r.ephemeral {
		persist = []string{"--appendonly", "no"}
	}
	r.cmd = exec.Command("redis-server", append([]string{"--bind", "127.0.0.1", "--port", port, "--dir", r.dir,
		"--save", ""}, persist...)...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.ProcessState == nil {
		r.cmd.Process.Signal(syscall.SIGTERM)
		r.cmd.Wait()
	}
}

func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

// redisEnv is a production environment on a shared Redis.
func redisEnv(t *testing.T, twilio *fakeTwilio, redis *redisServer) map[string]string {
	env := prodEnv(t, twilio)
	env["DIALIN_STORE"] = "redis"
	env["DIALIN_REDIS_URL"] = redis.url()
	env["DIALIN_RECONCILE_INTERVAL"] = "500ms"
	return env
}

func waitReady(t *testing.T, b *bridge, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := b.get("/readyz", "")
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz stayed %d (%s); want %d", r.Status, strings.TrimSpace(r.Body), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTwoInstances: two bridges on one Redis behave as one.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	twilio := newFakeTwilio(t)
	a := startBridge(t, redisEnv(t, twilio, redis))
	b := startBridge(t, redisEnv(t, twilio, redis))
	onA := subscriber(t, a, topicA, "websocket")
	onB := subscriber(t, b, topicA, "polling")
	otherTopic := subscriber(t, b, topicB, "websocket")
	conf := confSID(1)

	// The incoming call reaches A, its join reaches B: the identity A stored is found, and
	// every subscriber on either instance sees the party once.
	twilio.setLive(conf, topicA, callSID(1))
	a.mustPost("/twilio/voice", voiceForm(callSID(1), knownCaller, numA), 200)
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topicA, 1, callSID(1)), 204)
	for _, c := range []*client{onA, onB} {
		p := c.nextPresence()
		checkPhone(t, p, online, topicA, callSID(1), joined)
		if p.Sender.DisplayName != "John Smith" {
			t.Errorf("identity stored through A not found through B: %+v", p.Sender)
		}
		c.expectNothing(quiet)
	}

	// Replay on B lists a party that joined through A.
	twilio.setLive(conf, topicA, callSID(2))
	a.dialIn(callSID(2), unknownCaller, numA, conf, topicA, 2)
	onA.nextPresence()
	onB.nextPresence()
	late := connect(t, b, token("late", "guest", topicA), "websocket")
	late.connected()
	late.subscribe(topicA)
	late.emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.request.parties", topicA, map[string]any{}, ""))
	replayed := map[string]bool{}
	for len(replayed) < 2 {
		p := late.nextPresence()
		if p.Category == online {
			replayed[p.Sender.ID] = true
		}
	}
	for _, c := range []*client{onA, onB} {
		if p := c.nextPresence(); p.Category != "app.event.presence.request.parties" {
			t.Errorf("relayed request: got %s", p.Category)
		}
	}

	// A duplicate leave delivered to both instances at once emits one leaves.
	var wg sync.WaitGroup
	for _, x := range []*bridge{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := x.post("/twilio/conference", confForm("participant-leave", conf, topicA, 3, callSID(1))); r.Status != 204 {
				t.Errorf("leave: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	twilio.end(callSID(1))
	for _, c := range []*client{onA, onB} {
		checkPhone(t, c.nextPresence(), leaves, topicA, callSID(1), gone)
		c.expectNothing(quiet)
	}

	// Removal through B of a call that came in through A.
	admin := connect(t, b, token("boss", "admin", "*"), "websocket")
	admin.connected()
	admin.subscribe(topicA)
	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(2), "rm"))
	if p := onA.nextPresence(); p.Category != "party.removed" {
		t.Fatalf("A's subscriber got %s; want party.removed", p.Category)
	}
	onB.nextPresence()
	if h := twilio.hungUp(); len(h) != 1 || h[0] != callSID(2) {
		t.Fatalf("hung up %v; want [%s]", h, callSID(2))
	}
	twilio.end(callSID(2))
	a.mustPost("/twilio/status", statusForm(callSID(2), "completed", 1), 204)
	for _, c := range []*client{onA, onB} {
		checkPhone(t, c.nextPresence(), leaves, topicA, callSID(2), gone)
	}
	otherTopic.expectNothing(quiet)

	// A dies; B keeps serving webhooks and its clients.
	a.stop(syscall.SIGKILL)
	twilio.setLive(conf, topicA, callSID(3))
	b.dialIn(callSID(3), unknownCaller, numA, conf, topicA, 4)
	checkPhone(t, onB.nextPresence(), online, topicA, callSID(3), joined)
	waitReady(t, b, 200)
}

// TestRedisOutage: while Redis is down the bridge is not ready but still answers incoming
// calls with TwiML; when Redis returns, presence catches up.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	redis := startRedis(t)
	twilio := newFakeTwilio(t)
	b := startBridge(t, redisEnv(t, twilio, redis))
	c := subscriber(t, b, topicA, "websocket")
	conf := confSID(1)
	twilio.setLive(conf, topicA, callSID(1))
	b.dialIn(callSID(1), unknownCaller, numA, conf, topicA, 1)
	checkPhone(t, c.nextPresence(), online, topicA, callSID(1), joined)
	waitReady(t, b, 200)

	redis.stop()
	waitReady(t, b, 503)
	// A caller is never dropped: the incoming call is answered with its conference.
	x := parseTwiML(t, b.mustPost("/twilio/voice", voiceForm(callSID(2), unknownCaller, numA), 200))
	checkConference(t, b, x, topicA)
	// Its join cannot be stored now; Twilio has it in the conference all the same.
	twilio.setLive(conf, topicA, callSID(2))
	if r := b.post("/twilio/conference", confForm("participant-join", conf, topicA, 2, callSID(2))); r.Status < 500 {
		t.Errorf("join with Redis down: %d; want a 5xx", r.Status)
	}

	redis.start()
	waitReady(t, b, 200)
	// Reconciliation brings the missed join in; the party that was online stays, once.
	p := c.nextPresence()
	checkPhone(t, p, online, topicA, callSID(2), joined)
	if strings.ContainsAny(p.Sender.DisplayName, "0123456789") {
		t.Errorf("caught-up party shown as %q", p.Sender.DisplayName)
	}
	c.expectNothing(time.Second)
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 3, callSID(1)), 204)
	checkPhone(t, c.nextPresence(), leaves, topicA, callSID(1), gone)
}
