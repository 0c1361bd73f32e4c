package roster

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedisServer starts a redis-server of the test's own on a free loopback port, a
// replica of master when master is not empty, and returns its address.
func startRedisServer(t *testing.T, master string) (string, *exec.Cmd) {
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
	_, port, _ := net.SplitHostPort(addr)
	args := []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"}
	if master != "" {
		h, p, _ := net.SplitHostPort(master)
		args = append(args, "--replicaof", h, p)
	}
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := c.Ping(context.Background()).Err()
		if err == nil && master != "" {
			// A replica is ready once its link to the master is up.
			info, _ := c.Info(context.Background(), "replication").Result()
			if !strings.Contains(info, "master_link_status:up") {
				err = errors.New("link down")
			}
		}
		if err == nil {
			return addr, cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
	}
}

// TestRedisMinReplicas: with DIALIN_REDIS_MIN_REPLICAS=1, a change returns once the replica
// holds it (read from the replica), and a change the replica cannot acknowledge in time (the
// replica frozen) fails with ErrNotReplicated after about ReplicaTimeout, so that the webhook
// answers 503 and Twilio sends it again; the repeat, which changes nothing, is acknowledged
// only once the replica holds the call too.
func TestRedisMinReplicas(t *testing.T) {
	master, _ := startRedisServer(t, "")
	replica, replicaCmd := startRedisServer(t, master)
	s, err := OpenRedis("redis://"+master+"/0", "wait:", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := New(s)
	ctx := context.Background()
	if _, err := r.Admit(ctx, "CA1", "topic", Identity{DisplayName: "Ada"}); err != nil {
		t.Fatalf("admit with a live replica: %v", err)
	}
	rc := redis.NewClient(&redis.Options{Addr: replica})
	defer rc.Close()
	if n, err := rc.Exists(ctx, "wait:call:CA1").Result(); err != nil || n != 1 {
		t.Fatalf("the replica does not hold the acknowledged change: %d, %v", n, err)
	}

	// Freeze the replica: it keeps its connection but acknowledges nothing.
	if err := replicaCmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.Admit(ctx, "CA2", "topic", Identity{DisplayName: "Bo"})
	took := time.Since(start)
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("admit with a frozen replica = %v, want ErrNotReplicated", err)
	}
	if took < ReplicaTimeout-100*time.Millisecond || took > ReplicaTimeout+2*time.Second {
		t.Errorf("failing took %v, want about %v", took, ReplicaTimeout)
	}
	// Twilio sends it again while the replica is still frozen: the call is stored (the master
	// took it) and the repeat changes nothing, but it is not acknowledged either.
	unchanged := func(c *Call, found bool) bool {
		if !found {
			t.Error("the master does not hold the call it took")
		}
		return false
	}
	if err := s.Update(ctx, "CA2", unchanged); !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("a repeat that changes nothing, with a frozen replica = %v, want ErrNotReplicated", err)
	}
	replicaCmd.Process.Signal(syscall.SIGCONT)
	// Once the replica answers, the repeat is acknowledged, and the replica holds the call
	// with its expiry (a routing call's).
	if err := s.Update(ctx, "CA2", unchanged); err != nil {
		t.Fatalf("the repeat with the replica back: %v", err)
	}
	if ttl, err := rc.TTL(ctx, "wait:call:CA2").Result(); err != nil || ttl <= 0 || ttl > RoutingTTL {
		t.Errorf("the replica holds the repeated call with TTL %v (%v); want the routing call's", ttl, err)
	}

	// Without replicas asked for, the same store acknowledges at once.
	s0, err := OpenRedis("redis://"+master+"/0", "wait:", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s0.Close()
	if _, err := New(s0).Admit(ctx, "CA3", "topic", Identity{}); err != nil {
		t.Fatal(err)
	}
}
