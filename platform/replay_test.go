package platform

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// privateRedis is a redis-server of the test's own, so that it can stop and start it.
type privateRedis struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (scripts/test.sh installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &privateRedis{t: t, addr: addr}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) start() {
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
	}
}

func (r *privateRedis) stop() {
	if r.cmd != nil && r.cmd.ProcessState == nil {
		r.cmd.Process.Signal(syscall.SIGTERM)
		r.cmd.Wait()
	}
}

// TestReplayAfterOutage: a leaves lost while the platform's Redis was down, and a party that
// went online meanwhile, are published once it answers again; the rounds then stop.
func TestReplayAfterOutage(t *testing.T) {
	r := startPrivateRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer rdb.Close()
	heard := listenAll(t, rdb, "k")

	ca2 := mapper.Online(mapper.Party{CallSID: "CA2", TopicID: "T1", Version: 2}, "x")
	rooms, _ := NewRooms("room:{topicId}")
	s := New(Options{Redis: rdb, Key: "k", Namespace: "/chat", Rooms: rooms, Removals: RemovalsHangup,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Check: 50 * time.Millisecond,
		ReplayEvery: 100 * time.Millisecond, ReplayFor: 500 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, &fakeRoster{live: []mapper.Event{ca2}}); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); s.Ready(ctx) != nil || !s.up.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sink not ready")
		}
	}
	s.Publish(mapper.Online(mapper.Party{CallSID: "CA1", TopicID: "T1", Version: 1}, "a"))
	expectMessages(t, heard, 1)

	r.stop()
	for deadline := time.Now().Add(5 * time.Second); s.up.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sink did not see the outage")
		}
	}
	s.Publish(mapper.Leaves(mapper.Party{CallSID: "CA1", TopicID: "T1", Version: 3}, "b"))
	time.Sleep(200 * time.Millisecond)
	r.start()

	got := map[string]string{}
	deadline := time.After(10 * time.Second)
	for got["CA1"] != mapper.CategoryLeaves || got["CA2"] != mapper.CategoryOnline {
		select {
		case m := <-heard:
			got[m.Event.SenderID] = m.Event.Category
		case <-deadline:
			t.Fatalf("after the outage: %v; want CA1's leaves and CA2's online", got)
		}
	}
	// The rounds end (within ReplayFor plus the outage), and nothing more is published.
	time.Sleep(1500 * time.Millisecond)
	for len(heard) > 0 {
		<-heard
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(heard); n != 0 {
		t.Errorf("%d messages after the replay should have ended", n)
	}
}
