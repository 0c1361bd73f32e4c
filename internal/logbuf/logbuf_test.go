package logbuf

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records what reaches the underlying writer, and how many writes it took.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func TestLineBeforeCloseIsWritten(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour) // the timer never fires: only Close writes
	log := slog.New(NewHandler(slog.NewJSONHandler(w, nil), w))
	log.Info("the last line before shutdown")
	if out.String() != "" {
		t.Fatalf("an info line was written before a flush: %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the last line before shutdown") {
		t.Fatalf("line lost at Close; output %q", out.String())
	}
	log.Info("after close")
	if !strings.Contains(out.String(), "after close") {
		t.Fatalf("a line after Close was not written through; output %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestTimerFlushes(t *testing.T) {
	out := &sink{}
	w := New(out, 10*time.Millisecond)
	defer w.Close()
	fmt.Fprintln(w, "gathered")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "gathered") {
		if time.Now().After(deadline) {
			t.Fatal("the timer never flushed the line")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWarningsAreWrittenAtOnce(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour)
	defer w.Close()
	log := slog.New(NewHandler(slog.NewJSONHandler(w, nil), w)).With("endpoint", "voice")
	log.Info("first")
	log.Warn("second")
	got := out.String()
	if i, j := strings.Index(got, "first"), strings.Index(got, "second"); i < 0 || j < i {
		t.Fatalf("want the info line then the warning written at once; got %q", got)
	}
}

// TestOneWritePerFlush: many lines between flushes cost one write, and concurrent writers
// keep every line whole.
func TestOneWritePerFlush(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour)
	log := slog.New(NewHandler(slog.NewJSONHandler(w, nil), w))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				log.Info("line", "g", g, "i", i)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1000 {
		t.Fatalf("%d lines; want 1000", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("torn line %q", l)
		}
	}
	if n := out.count(); n > 2 {
		t.Fatalf("%d writes for 1000 lines (about 100 kB); want 1", n)
	}
}

// TestBurstFlushesEarly: a burst larger than the buffer is written without waiting for the
// timer, and nothing is lost or reordered, even past the point where writers wait.
func TestBurstFlushesEarly(t *testing.T) {
	out := &sink{}
	w := New(out, time.Hour)
	var want strings.Builder
	for i := 0; want.Len() < 2*maxWaiting; i++ {
		line := fmt.Sprintf("%08d %s\n", i, strings.Repeat("x", 1000))
		want.WriteString(line)
		fmt.Fprint(w, line)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a burst over the buffer's size was not written before the timer")
		}
		time.Sleep(time.Millisecond)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("%d bytes written, not the %d written to the buffer in order", len(out.String()), want.Len())
	}
}
