package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
)

type arrival struct {
	count       int
	first, last int64
}

// subscribers are the node processes that hold the subscribers, n in all.
type subscribers struct {
	procs []*nodeProc
	n     int
}

// nodeProc is one node process running subscribers.js.
type nodeProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startSubscribers runs subscribers.js, next to this file, in o.procs node processes that
// share the subscribers, and waits until all subscribed.
func startSubscribers(o options) (*subscribers, error) {
	dir, err := benchDir()
	if err != nil {
		return nil, err
	}
	token := ""
	if o.jwtSecret != "" {
		token = jwttest.HS256(o.jwtSecret, map[string]any{
			"sub": "bench", "name": "Load tool", "topics": []string{o.topic}, "role": "member",
			"exp": time.Now().Add(24 * time.Hour).Unix(),
		})
	}
	s := &subscribers{n: o.subscribers}
	procs := max(1, min(o.procs, o.subscribers))
	for i := range procs {
		n := o.subscribers / procs
		if i < o.subscribers%procs {
			n++
		}
		p, err := startNode(dir, o, n, token)
		if err != nil {
			s.close()
			return nil, err
		}
		s.procs = append(s.procs, p)
	}
	return s, nil
}

func startNode(dir string, o options, n int, token string) (*nodeProc, error) {
	cmd := exec.Command("node", filepath.Join(dir, "subscribers.js"), o.subURL, o.topic, strconv.Itoa(n), token)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node subscribers (run npm ci in bench/): %w", err)
	}
	p := &nodeProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	p.out.Buffer(make([]byte, 1<<20), 1<<30)
	ready := make(chan error, 1)
	go func() {
		if p.out.Scan() && strings.HasPrefix(p.out.Text(), "ready") {
			ready <- nil
			return
		}
		ready <- errors.New("subscribers did not become ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			p.close()
			return nil, err
		}
	case <-time.After(60 * time.Second):
		p.close()
		return nil, errors.New("subscribers not ready within 60 s")
	}
	return p, nil
}

func benchDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		if _, err := os.Stat(filepath.Join(filepath.Dir(file), "subscribers.js")); err == nil {
			return filepath.Dir(file), nil
		}
	}
	if _, err := os.Stat("bench/subscribers.js"); err == nil {
		return "bench", nil
	}
	return "", errors.New("cannot find bench/subscribers.js: run from the repository root")
}

// waitFor waits until every call's event reached all the subscribers or settle passes, and
// returns what arrived. While events arrive it asks only for a count, so that the summary's
// cost (a JSON line of every call) does not delay the events it measures.
func (s *subscribers) waitFor(sids []string, category string, settle time.Duration) (map[string]arrival, error) {
	deadline := time.Now().Add(settle)
	want := len(sids) * s.n
	for {
		n, err := s.count(category)
		if err != nil {
			return nil, err
		}
		if n >= want || time.Now().After(deadline) {
			got, err := s.dump()
			if err != nil || complete(got, sids, category, s.n) || time.Now().After(deadline) {
				return got, err
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func complete(got map[string]arrival, sids []string, category string, n int) bool {
	for _, sid := range sids {
		if got[sid+" "+category].count < n {
			return false
		}
	}
	return true
}

// count is how many events of a category all the subscribers have received.
func (s *subscribers) count(category string) (int, error) {
	total := 0
	for _, p := range s.procs {
		line, err := p.ask("count " + category)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(line)))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// dump is what every call's events did, over all the subscribers.
func (s *subscribers) dump() (map[string]arrival, error) {
	got := make(map[string]arrival)
	for _, p := range s.procs {
		line, err := p.ask("dump")
		if err != nil {
			return nil, err
		}
		var raw map[string][3]int64
		if err := json.Unmarshal(line, &raw); err != nil {
			return nil, err
		}
		for k, v := range raw {
			a, seen := got[k]
			if !seen {
				got[k] = arrival{count: int(v[0]), first: v[1], last: v[2]}
				continue
			}
			a.count += int(v[0])
			a.first = min(a.first, v[1])
			a.last = max(a.last, v[2])
			got[k] = a
		}
	}
	return got, nil
}

func (p *nodeProc) ask(cmd string) ([]byte, error) {
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return nil, err
	}
	if !p.out.Scan() {
		return nil, errors.New("subscribers stopped")
	}
	return p.out.Bytes(), nil
}

func (s *subscribers) close() {
	for _, p := range s.procs {
		p.close()
	}
}

func (p *nodeProc) close() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
	}
}
