package e2e

import (
	"testing"
	"time"
)

// collect reads c's presence events until it has one of each (category, call) wanted, and
// fails on anything else.
func collect(t *testing.T, c *client, who string, want map[[2]string]bool) {
	t.Helper()
	for len(want) > 0 {
		p := c.nextPresence()
		k := [2]string{p.Category, p.Sender.ID}
		if !want[k] {
			t.Fatalf("%s: unexpected %s of %s (still waiting for %v)", who, p.Category, p.Sender.ID, want)
		}
		delete(want, k)
	}
}

// TestRedisWipe: two instances on a Redis without persistence, which dies and comes back
// empty. A call that ended while Redis was down gets its leaves on every client, once; the
// calls still in their conference are rebuilt, and their later events (mute, leaves) reach
// every client, none dropped as stale; in the end clients, the parties API and Twilio
// agree.
func TestRedisWipe(t *testing.T) {
	t.Parallel()
	redis := startEphemeralRedis(t)
	twilio := newFakeTwilio(t)
	const interval = 500 * time.Millisecond
	a := startBridge(t, redisEnv(t, twilio, redis))
	b := startBridge(t, redisEnv(t, twilio, redis))
	onA := subscriber(t, a, topicA, "websocket")
	onB := subscriber(t, b, topicA, "polling")
	clients := map[string]*client{"A's client": onA, "B's client": onB}
	conf := confSID(1)

	twilio.setLive(conf, topicA, callSID(1), callSID(2), callSID(3))
	// Several changes each, so that versions are well above 1 before the wipe. Each is seen
	// by both clients before the next: a change sent to the other instance may otherwise be
	// overtaken there by the next one, and dropped as stale (rightly: it is older).
	seen := func(what string) {
		t.Helper()
		for who, c := range clients {
			if p := c.nextPresence(); p.Category != online {
				t.Fatalf("%s before the wipe, after %s: %s", who, what, p.Category)
			}
		}
	}
	a.dialIn(callSID(1), knownCaller, numA, conf, topicA, 1)
	seen("join 1")
	b.dialIn(callSID(2), unknownCaller, numA, conf, topicA, 2)
	seen("join 2")
	a.dialIn(callSID(3), unknownCaller, numA, conf, topicA, 3)
	seen("join 3")
	for i, seq := 1, 4; i <= 3; i++ {
		a.mustPost("/twilio/conference", confForm("participant-mute", conf, topicA, seq, callSID(i)), 204)
		seen("a mute")
		b.mustPost("/twilio/conference", confForm("participant-unmute", conf, topicA, seq+1, callSID(i)), 204)
		seen("an unmute")
		seq += 2
	}
	for _, c := range clients {
		c.expectNothing(quiet)
	}

	redis.stop()
	twilio.end(callSID(2)) // hangs up while Redis is down; its webhooks cannot be stored
	if r := b.post("/twilio/conference", confForm("participant-leave", conf, topicA, 10, callSID(2))); r.Status < 500 {
		t.Errorf("leave with Redis down: %d; want a 5xx", r.Status)
	}
	redis.start() // empty
	restarted := time.Now()

	// Every client: call 2's leaves, and calls 1 and 3 shown again as reconciliation
	// rebuilds them (once each: one instance's transaction rebuilds a call).
	for who, c := range clients {
		collect(t, c, who, map[[2]string]bool{
			{leaves, callSID(2)}: true, {online, callSID(1)}: true, {online, callSID(3)}: true,
		})
	}
	t.Logf("clients agree with Twilio %v after Redis came back (reconciliation every %v)", time.Since(restarted), interval)
	for _, c := range clients {
		c.expectNothing(3 * interval) // later reconciliations find nothing more to do
	}
	if got := a.parties(topicA); len(got) != 2 || got[callSID(2)].Sender.ID != "" {
		t.Errorf("parties after the wipe: %v; want calls 1 and 3", got)
	}

	// The rebuilt calls go on: their later events reach every client on both instances.
	b.mustPost("/twilio/conference", confForm("participant-mute", conf, topicA, 20, callSID(1)), 204)
	for _, c := range clients {
		checkPhone(t, c.nextPresence(), online, topicA, callSID(1), media{audio: true, connected: true, selfMuted: true, phone: true})
	}
	a.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 21, callSID(1)), 204)
	twilio.end(callSID(1))
	b.mustPost("/twilio/status", statusForm(callSID(3), "completed", 5), 204)
	twilio.end(callSID(3))
	for who, c := range clients {
		collect(t, c, who, map[[2]string]bool{{leaves, callSID(1)}: true, {leaves, callSID(3)}: true})
		c.expectNothing(3 * interval)
	}
	if got := b.parties(topicA); len(got) != 0 {
		t.Errorf("parties at the end: %v; want none", got)
	}
}
