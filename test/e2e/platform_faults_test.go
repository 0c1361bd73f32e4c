package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

// TestPlatformTwoInstances: two bridges on the shared store publish each change once, and
// answer each request once.
func TestPlatformTwoInstances(t *testing.T) {
	t.Parallel()
	plat := startEphemeralRedis(t)
	nodes := []*platformNode{startPlatformNode(t, plat, "v2"), startPlatformNode(t, plat, "v2")}
	env := redisEnv(t, nil, startRedis(t))
	for k, v := range platformEnv(t, nil, plat) {
		if strings.HasPrefix(k, "DIALIN_PLATFORM") {
			env[k] = v
		}
	}
	b1, b2 := startBridge(t, env), startBridge(t, env)
	waitReady(t, b1, 200)
	waitReady(t, b2, 200)
	clients := []*client{platformClient(t, nodes[0], "ann", "member", topicA), platformClient(t, nodes[1], "bob", "member", topicA)}

	sid, conf := callSID(1), confSID(1)
	b1.dialIn(sid, unknownCaller, numA, conf, topicA, 1)
	expectEach(t, clients, online, sid, joined)
	b2.mustPost("/twilio/conference", confForm("participant-mute", conf, topicA, 2, sid), 204)
	expectEach(t, clients, online, sid, muted)
	// Twilio delivers the same callback to both instances: one event.
	b1.mustPost("/twilio/conference", confForm("participant-hold", conf, topicA, 3, sid), 204)
	b2.mustPost("/twilio/conference", confForm("participant-hold", conf, topicA, 3, sid), 204)
	expectEach(t, clients, online, sid, onHold) // each callback carries the whole state: unmuted

	clients[0].emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.request.parties", topicA, map[string]any{}, ""))
	for _, cl := range clients {
		if p := cl.nextPresence(); p.Category != "app.event.presence.request.parties" {
			t.Fatalf("got %s; want the request relayed", p.Category)
		}
	}
	expectEach(t, clients, online, sid, onHold)

	b2.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 4, sid), 204)
	expectEach(t, clients, leaves, sid, gone)
}

// TestPlatformRedisRestart: the platform's Redis is killed and restarted. Webhooks are
// answered throughout and the bridge's own clients see every change at once; /readyz
// reports the outage; afterwards the platform's clients have the party that joined meanwhile
// and the leaves of the one that left.
func TestPlatformRedisRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, nil)
	b := c.bridge
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	expectEach(t, c.clients(), online, callSID(1), joined)

	c.redis.stop()
	waitReady(t, b, 503)
	if r := b.get("/readyz", ""); !strings.Contains(r.Body, "platform redis") {
		t.Errorf("/readyz says %q; want the platform's Redis named", strings.TrimSpace(r.Body))
	}
	b.dialIn(callSID(2), knownCaller, numA, confSID(1), topicA, 2)
	b.mustPost("/twilio/conference", confForm("participant-leave", confSID(1), topicA, 3, callSID(1)), 204)
	checkPhone(t, c.own.nextPresence(), online, topicA, callSID(2), joined)
	checkPhone(t, c.own.nextPresence(), leaves, topicA, callSID(1), gone)

	time.Sleep(time.Second)
	c.redis.start()
	waitReady(t, b, 200)
	for _, cl := range c.plat {
		last := map[string]presence{}
		deadline := time.Now().Add(40 * time.Second)
		for (last[callSID(1)].Category != leaves || last[callSID(2)].Category != online) && time.Now().Before(deadline) {
			if m, ok := cl.next(time.Second); ok && m.Type == "event" && m.Name == "PRESENCE_EVENT_RESPONSE" {
				p := cl.decodePresence(m)
				last[p.Sender.ID] = p
			} else if ok && m.Type == "disconnect" {
				t.Fatalf("platform client lost its connection: %+v", m)
			}
		}
		checkPhone(t, last[callSID(2)], online, topicA, callSID(2), joined)
		checkPhone(t, last[callSID(1)], leaves, topicA, callSID(1), gone)
	}
	// Replays are repeated for a while; whatever else comes is the same state.
	time.Sleep(2 * time.Second)
	for _, cl := range c.plat {
		for {
			m, ok := cl.next(100 * time.Millisecond)
			if !ok {
				break
			}
			if m.Type != "event" {
				continue
			}
			p := cl.decodePresence(m)
			if (p.Sender.ID == callSID(1)) != (p.Category == leaves) {
				t.Errorf("after the outage: %s of %s", p.Category, p.Sender.ID)
			}
		}
	}
	if n := metric(t, b, `dialin_platform_published_total{kind="replay"}`); n < 2 {
		t.Errorf("dialin_platform_published_total{kind=\"replay\"} = %v; want the online and the leaves at least", n)
	}
	if n := metric(t, b, `dialin_platform_lost_total{reason="down"}`); n < 2 {
		t.Errorf("dialin_platform_lost_total{reason=\"down\"} = %v; want the 2 events of the outage", n)
	}
}

func (c *client) decodePresence(m msg) presence {
	c.t.Helper()
	var p presence
	if err := json.Unmarshal(m.Data, &p); err != nil {
		c.t.Fatalf("decode %s: %v", m.Data, err)
	}
	p.Raw = m.Data
	return p
}

// metric reads one sample from /metrics; 0 when absent.
func metric(t *testing.T, b *bridge, sample string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(b.get("/metrics", "").Body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestPlatformGarbage: garbage on the adapter channels changes nothing: no hang-up, no event,
// and the bridge still answers the platform's requests.
func TestPlatformGarbage(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	c := startCluster(t, twilio, nil)
	twilio.setLive(confSID(1), topicA, callSID(1))
	c.bridge.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	expectEach(t, c.clients(), online, callSID(1), joined)

	rdb := redis.NewClient(&redis.Options{Addr: c.redis.addr})
	defer rdb.Close()
	pack := func(v any) string {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	removal := map[string]any{"category": "party.removed", "topicId": topicA,
		"content": map[string]any{"attendee": map[string]any{"attendee": callSID(1)}}}
	packet := func(nsp string, ev any) map[string]any {
		return map[string]any{"type": 2, "data": []any{"PRESENCE_EVENT_RESPONSE", ev}, "nsp": nsp}
	}
	// socket.io-redis nodes decode what comes on the rooms they hold (and crash on what they
	// cannot decode), and deliver it to their clients: garbage for the bridge goes to a room
	// no node holds, or to another namespace. The bridge reads all of it.
	toA := map[string]any{"rooms": []string{"room:" + topicA}}
	garbage := map[string][]string{
		"socket.io#/chat#nobody-here#": {
			"", "\xc1", "\x93\xdd\xff\xff\xff\xff", "\x93\xdb\x7f\xff\xff\xff", strings.Repeat("\x91", 100000),
			strings.Repeat("x", 200<<10), "\x93\xa1u\xdf\x7f\xff\xff\xff",
			pack([]any{"node", packet("/chat", removal), map[string]any{"rooms": []string{topicA}}}), // not a topic's room
			pack([]any{"node", packet("/chat", "not an object"), toA}),
			pack([]any{"node", map[string]any{"type": 2, "data": []any{"OTHER", removal}, "nsp": "/chat"}, toA}),
			pack([]any{"node", packet("/chat", map[string]any{"category": "party.removed", "topicId": topicB, // the room's topic is another
				"content": map[string]any{"attendee": map[string]any{"attendee": callSID(1)}}}), toA}),
			pack([]any{"node", packet("/chat", removal), map[string]any{"rooms": []string{"room:" + topicA, "room:" + topicB}}}),
		},
		"socket.io#/chat#room:" + topicA + "#": {
			pack([]any{"node", packet("/other", removal), toA}),
		},
	}
	for ch, msgs := range garbage {
		for _, m := range msgs {
			if err := rdb.Publish(context.Background(), ch, m).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, cl := range c.clients() {
		cl.expectNothing(quiet)
	}
	if h := twilio.hungUp(); len(h) != 0 {
		t.Fatalf("garbage hung up %v", h)
	}
	if n := metric(t, c.bridge, `dialin_platform_ignored_total{reason="malformed"}`); n < 5 {
		t.Errorf("malformed messages counted: %v; want at least 5", n)
	}
	if n := metric(t, c.bridge, `dialin_platform_ignored_total{reason="too_large"}`); n != 2 {
		t.Errorf("messages too large counted: %v; want 2", n)
	}
	c.plat[1].emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.request.parties", topicA, map[string]any{}, ""))
	c.plat[1].nextPresence() // the request, relayed
	checkPhone(t, c.plat[1].nextPresence(), online, topicA, callSID(1), joined)
	waitReady(t, c.bridge, 200)
}

// TestPlatformSocketIO4: a socket.io 4 node with @socket.io/redis-adapter reads what the
// bridge publishes, and its clients' requests are answered.
func TestPlatformSocketIO4(t *testing.T) {
	t.Parallel()
	plat := startEphemeralRedis(t)
	node := startPlatformNode(t, plat, "v4")
	b := startBridge(t, platformEnv(t, nil, plat))
	waitReady(t, b, 200)
	cl := platformClient(t, node, "ann", "member", topicA)
	b.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, cl.nextPresence(), online, topicA, callSID(1), joined)
	cl.emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.request.parties", topicA, map[string]any{}, ""))
	if p := cl.nextPresence(); p.Category != "app.event.presence.request.parties" {
		t.Fatalf("got %s; want the request relayed", p.Category)
	}
	checkPhone(t, cl.nextPresence(), online, topicA, callSID(1), joined)
	cl.expectNothing(quiet)
}
