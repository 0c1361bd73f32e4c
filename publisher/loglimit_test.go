package publisher

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// TestRefusalLinesLimited: a client that sends a thousand refused requests at once gets a
// thousand refusals, and the log gets at most refusalLines lines for them in that second;
// the next line says how many were held back.
func TestRefusalLinesLimited(t *testing.T) {
	logs := &lockedBuffer{}
	auth, _ := NewAuth(nil, nil, true)
	s := New(Options{Auth: auth}, slog.New(slog.NewJSONHandler(logs, nil)))
	s.Serve(nil)
	defer s.Close()
	c := &fakeClient{id: "c"}
	sess, err := s.connect(c, "")
	if err != nil {
		t.Fatal(err)
	}
	const sent = 1000
	req := json.RawMessage(`{"category":"app.event.presence.party.online","topicId":"not-subscribed","content":{}}`)
	start := time.Now()
	refused := 0
	for range sent {
		if ack := s.ask(sess, EvSendPresence, req); strings.Contains(string(ack), "not subscribed") {
			refused++
		}
	}
	if refused != sent {
		t.Fatalf("%d of %d requests refused; want every one answered with its refusal", refused, sent)
	}
	seconds := int(time.Since(start)/time.Second) + 2 // the seconds the burst touched
	lines := logs.lines("presence request refused")
	if len(lines) > seconds*refusalLines || len(lines) < refusalLines {
		t.Errorf("%d log lines for %d refusals over at most %d seconds; want %d to %d", len(lines), sent, seconds, refusalLines, seconds*refusalLines)
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	s.ask(sess, EvSendPresence, req)
	lines = logs.lines("presence request refused")
	if last := lines[len(lines)-1]; !strings.Contains(last, `"lines_held_back":`) {
		t.Errorf("the first line of the next second %s; want it to say how many were held back", last)
	}
}

// TestLineLimit: within one second, refusalLines lines are let through and the rest held
// back; the first of the next second says how many were.
func TestLineLimit(t *testing.T) {
	var l lineLimit
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	through := 0
	for i := range 1000 {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * time.Millisecond / 2)); ok {
			through++
		}
	}
	if through != refusalLines {
		t.Errorf("%d of 1000 lines in half a second let through; want %d", through, refusalLines)
	}
	if ok, held := l.allow(t0.Add(time.Second)); !ok || held != 1000-refusalLines {
		t.Errorf("the next second's first line: let through %v, held back before it %d; want true, %d", ok, held, 1000-refusalLines)
	}
}
