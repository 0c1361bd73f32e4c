package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisProc is one redis-server process of a test (a server or a Sentinel).
type redisProc struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startRedisProc runs redis-server with args on addr and waits until it answers PING.
func startRedisProc(t *testing.T, addr string, args ...string) *redisProc {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (scripts/test.sh installs it)")
	}
	logs := &syncBuffer{}
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &redisProc{addr: addr, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			out := logs.String()
			if len(out) > 4000 {
				out = "…" + out[len(out)-4000:]
			}
			t.Logf("redis-server %s %v:\n%s", addr, args, out)
		}
	})
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer within 10 s:\n%s", addr, logs)
		}
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to go.
func (p *redisProc) kill() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

// sentinelSet is a master, two replicas and three Sentinels (quorum 2) on free loopback
// ports, as an operator runs Redis for several bridge instances. Two replicas, so that one
// is left to acknowledge writes (WAIT) after the other is promoted.
type sentinelSet struct {
	t         *testing.T
	name      string
	master    *redisProc
	replicas  [2]*redisProc
	sentinels [3]*redisProc
}

const sentinelMaster = "dialinmaster"

// startSentinels starts the set and waits until every Sentinel sees all of it.
func startSentinels(t *testing.T) *sentinelSet {
	t.Helper()
	s := &sentinelSet{t: t, name: sentinelMaster}
	server := func(addr string, extra ...string) *redisProc {
		_, port, _ := net.SplitHostPort(addr)
		args := []string{"--bind", "127.0.0.1", "--port", port, "--dir", t.TempDir(), "--save", "",
			"--appendonly", "no", "--repl-diskless-sync-delay", "0"}
		return startRedisProc(t, addr, append(args, extra...)...)
	}
	s.master = server(freeAddr(t))
	mhost, mport, _ := net.SplitHostPort(s.master.addr)
	for i := range s.replicas {
		s.replicas[i] = server(freeAddr(t), "--replicaof", mhost, mport)
	}
	for i := range s.sentinels {
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		// A Sentinel rewrites its configuration file: it must be writable.
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf(`port %s
bind 127.0.0.1
dir %s
sentinel resolve-hostnames no
sentinel monitor %s %s %s 2
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 10000
sentinel parallel-syncs %s 2
`, port, dir, s.name, mhost, mport, s.name, s.name, s.name)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s.sentinels[i] = startRedisProc(t, addr, conf, "--sentinel")
	}
	// Ready once every Sentinel knows both replicas (in sync) and the two other Sentinels.
	deadline := time.Now().Add(30 * time.Second)
	for _, sp := range s.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sp.addr})
		for {
			reps, err1 := sc.Replicas(context.Background(), s.name).Result()
			sens, err2 := sc.Sentinels(context.Background(), s.name).Result()
			if err1 == nil && err2 == nil && len(reps) == 2 && len(sens) == 2 && linksUp(reps) {
				break
			}
			if time.Now().After(deadline) {
				sc.Close()
				t.Fatalf("Sentinel %s does not see the set within 30 s: replicas %v (%v), sentinels %d (%v)", sp.addr, reps, err1, len(sens), err2)
			}
			time.Sleep(100 * time.Millisecond)
		}
		sc.Close()
	}
	return s
}

// linksUp reports whether every replica Sentinel lists is linked to its master.
func linksUp(reps []map[string]string) bool {
	for _, r := range reps {
		if r["master-link-status"] != "ok" || strings.Contains(r["flags"], "down") {
			return false
		}
	}
	return true
}

// url is go-redis's failover URL naming the three Sentinels.
func (s *sentinelSet) url() string {
	return fmt.Sprintf("redis://%s/0?master_name=%s&addr=%s&addr=%s", s.sentinels[0].addr, s.name, s.sentinels[1].addr, s.sentinels[2].addr)
}

// masterAddr is the master the Sentinels name now.
func (s *sentinelSet) masterAddr() string {
	for _, sp := range s.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sp.addr, DialTimeout: time.Second, MaxRetries: -1})
		a, err := sc.GetMasterAddrByName(context.Background(), s.name).Result()
		sc.Close()
		if err == nil && len(a) == 2 {
			return net.JoinHostPort(a[0], a[1])
		}
	}
	return ""
}
