package e2e

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Platform mode (contract §5): the room platform is a real socket.io cluster, two node
// processes (platformnode.js) sharing a redis-server the test starts, and the room clients are
// real socket.io-client 2.x connected to those nodes, never to the bridge.

// platformRoom is the platform's room template: not the default, so that
// DIALIN_PLATFORM_ROOM is what brings the bridge's events to the clients.
const platformRoom = "room:{topicId}"

type platformNode struct {
	URL string
}

// startPlatformNode runs one platform node on r (version v2 or v4) until the test ends.
func startPlatformNode(t *testing.T, r *redisServer, version string) *platformNode {
	t.Helper()
	return startPlatformNodeOn(t, r.url(), version)
}

// startPlatformNodeOn runs one platform node whose adapter uses the Redis at redisURL.
func startPlatformNodeOn(t *testing.T, redisURL, version string) *platformNode {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("node", filepath.Join(testDir(), "platformnode.js"), port, redisURL, platformRoom, jwtSecret, version)
	cmd.Dir = testDir()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("platform node %s logs:\n%s", addr, logs)
		}
	})
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := sc.Scan() && sc.Text() == "listening"
		listening <- ok
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-listening:
		if !ok {
			t.Fatalf("platform node did not start:\n%s", logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("platform node not listening within 10 s:\n%s", logs)
	}
	return &platformNode{URL: "http://" + addr}
}

// platformEnv is a production environment in platform mode on the platform's Redis r.
func platformEnv(t *testing.T, twilio *fakeTwilio, r *redisServer) map[string]string {
	env := prodEnv(t, twilio)
	env["DIALIN_PLATFORM"] = "socketio-redis"
	env["DIALIN_PLATFORM_REDIS_URL"] = r.url()
	env["DIALIN_PLATFORM_ROOM"] = platformRoom
	return env
}

// platformClient connects a socket.io-client 2.x to a platform node and subscribes it to topic.
func platformClient(t *testing.T, n *platformNode, sub, role, topic string) *client {
	t.Helper()
	c := connect(t, &bridge{t: t, URL: n.URL}, token(sub, role, topic), "websocket")
	c.connected()
	c.subscribe(topic)
	return c
}

// cluster is a platform of two nodes, a bridge in platform mode, and clients: one on each
// platform node and one of the bridge's own.
type cluster struct {
	redis  *redisServer
	nodes  [2]*platformNode
	bridge *bridge
	plat   [2]*client
	own    *client
}

func startCluster(t *testing.T, twilio *fakeTwilio, env func(map[string]string)) *cluster {
	t.Helper()
	c := &cluster{redis: startEphemeralRedis(t)}
	c.nodes = [2]*platformNode{startPlatformNode(t, c.redis, "v2"), startPlatformNode(t, c.redis, "v2")}
	e := platformEnv(t, twilio, c.redis)
	if env != nil {
		env(e)
	}
	c.bridge = startBridge(t, e)
	waitReady(t, c.bridge, 200)
	c.plat = [2]*client{platformClient(t, c.nodes[0], "ann", "member", topicA), platformClient(t, c.nodes[1], "bob", "member", topicA)}
	c.own = subscriber(t, c.bridge, topicA, "websocket")
	return c
}

func (c *cluster) clients() []*client { return []*client{c.plat[0], c.plat[1], c.own} }

// expectEach asserts that every client gets exactly one event, the phone party's, and nothing
// after it.
func expectEach(t *testing.T, clients []*client, category, sid string, m media) {
	t.Helper()
	for _, cl := range clients {
		checkPhone(t, cl.nextPresence(), category, topicA, sid, m)
	}
	for _, cl := range clients {
		cl.expectNothing(quiet)
	}
}

// TestPlatformDialIn: a dial-in reaches the clients on both platform nodes once, in the
// dial-in shape, and the bridge's own clients too.
func TestPlatformDialIn(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, nil)
	c.bridge.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	for _, cl := range c.clients() {
		p := cl.nextPresence()
		checkPhone(t, p, online, topicA, callSID(1), joined)
		if p.Sender.DisplayName != "John Smith" || p.Sender.Username != "jsmith@fakeemail.com" || p.Content.Role != "member" {
			t.Errorf("directory caller shown as %+v role %q", p.Sender, p.Content.Role)
		}
	}
	for _, cl := range c.clients() {
		cl.expectNothing(quiet)
	}
	// Another topic's room hears nothing of it.
	other := platformClient(t, c.nodes[0], "cy", "member", topicB)
	c.bridge.dialIn(callSID(2), unknownCaller, numA, confSID(1), topicA, 2)
	expectEach(t, c.clients(), online, callSID(2), joined)
	other.expectNothing(quiet)
}

// TestPlatformMuteHoldLeaves: mute, hold and leaves reach both platform nodes' clients once.
func TestPlatformMuteHoldLeaves(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, nil)
	sid, conf := callSID(1), confSID(1)
	c.bridge.dialIn(sid, unknownCaller, numA, conf, topicA, 1)
	expectEach(t, c.clients(), online, sid, joined)
	for _, s := range []struct {
		event string
		seq   int
		want  media
	}{{"participant-mute", 2, muted}, {"participant-unmute", 3, joined}, {"participant-hold", 4, onHold}, {"participant-unhold", 5, joined}} {
		c.bridge.mustPost("/twilio/conference", confForm(s.event, conf, topicA, s.seq, sid), 204)
		expectEach(t, c.clients(), online, sid, s.want)
	}
	c.bridge.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 6, sid), 204)
	expectEach(t, c.clients(), leaves, sid, gone)
	if strings.Contains(c.bridge.LogsWritten(), unknownCaller) {
		t.Error("the caller's full number is in the bridge's logs")
	}
}

// TestPlatformRequestParties: a platform client's request.parties is answered in the room,
// with one online per phone party, on both nodes.
func TestPlatformRequestParties(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, nil)
	c.bridge.dialIn(callSID(1), knownCaller, numA, confSID(1), topicA, 1)
	c.bridge.dialIn(callSID(2), unknownCaller, numA, confSID(1), topicA, 2)
	c.bridge.mustPost("/twilio/conference", confForm("participant-mute", confSID(1), topicA, 3, callSID(2)), 204)
	for _, cl := range c.clients() {
		cl.nextPresence()
		cl.nextPresence()
		cl.nextPresence()
	}
	c.plat[0].emit("SEND_PRESENCE_EVENT", presenceReq("app.event.presence.request.parties", topicA, map[string]any{}, ""))
	for _, cl := range c.plat {
		if p := cl.nextPresence(); p.Category != "app.event.presence.request.parties" || p.Sender.ID != "ann" {
			t.Fatalf("first event %s from %s; want ann's request relayed", p.Category, p.Sender.ID)
		}
		got := map[string]presence{}
		for range 2 {
			p := cl.nextPresence()
			got[p.Sender.ID] = p
		}
		checkPhone(t, got[callSID(1)], online, topicA, callSID(1), joined)
		checkPhone(t, got[callSID(2)], online, topicA, callSID(2), muted)
		cl.expectNothing(quiet)
	}
	c.own.expectNothing(quiet) // the platform's requests are the platform's
}

// TestPlatformRemoval: an admin's party.removed, relayed by the platform, hangs the call up
// through Twilio; a member's is not relayed; with DIALIN_PLATFORM_REMOVALS=ignore nothing is
// hung up.
func TestPlatformRemoval(t *testing.T) {
	t.Parallel()
	for _, removals := range []string{"hangup", "ignore"} {
		t.Run(removals, func(t *testing.T) {
			twilio := newFakeTwilio(t)
			c := startCluster(t, twilio, func(env map[string]string) { env["DIALIN_PLATFORM_REMOVALS"] = removals })
			twilio.setLive(confSID(1), topicA, callSID(1)) // after the reconciliation at start
			admin := platformClient(t, c.nodes[1], "boss", "admin", topicA)
			c.bridge.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
			expectEach(t, append(c.clients(), admin), online, callSID(1), joined)

			c.plat[0].emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "by-member"))
			expectInvalid(t, c.plat[0], "by-member")
			admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "by-admin"))
			if p := c.plat[0].nextPresence(); p.Category != "party.removed" || p.Sender.ID != "boss" {
				t.Fatalf("room got %s from %s; want boss's party.removed", p.Category, p.Sender.ID)
			}
			deadline := time.Now().Add(eventWait)
			for removals == "hangup" && len(twilio.hungUp()) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(quiet)
			h := twilio.hungUp()
			switch {
			case removals == "hangup" && (len(h) != 1 || h[0] != callSID(1)):
				t.Fatalf("hung up %v; want [%s] once", h, callSID(1))
			case removals == "ignore" && len(h) != 0:
				t.Fatalf("hung up %v with removals ignored", h)
			}
		})
	}
}
