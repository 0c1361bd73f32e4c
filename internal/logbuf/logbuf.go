// Package logbuf owns the bridge's log output buffer: log lines are gathered in memory and
// written on a short timer, so that a line costs no write system call of its own, and
// everything gathered is written when the buffer is closed at exit.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how long a line may wait in the buffer.
const DefaultInterval = 100 * time.Millisecond

// maxBuffered is how much may wait before the flush goroutine is woken early; past
// maxWaiting, a Write waits for the output itself (as every write did before buffering), so
// a burst of logging cannot grow the buffer without bound.
const (
	maxBuffered = 256 << 10
	maxWaiting  = 4 * maxBuffered
)

// Writer gathers writes in memory and writes them to the underlying writer every interval,
// on Flush and on Close. It is safe for concurrent use. A line written before Close returns
// is in the output; lines still buffered when the process is killed are lost. A Write (which
// slog makes under its handler's lock) only appends, unless maxWaiting bytes are waiting.
type Writer struct {
	out io.Writer

	mu     sync.Mutex // guards buf and closed; never held while writing to out
	buf    []byte
	spare  []byte // the other buffer, written out while buf gathers
	closed bool

	outMu sync.Mutex // orders the writes to out; only flushes wait for it

	kick chan struct{} // wakes the flush goroutine before its time
	stop chan struct{}
	done chan struct{}
}

// New returns a Writer onto out, and starts its flush goroutine, which Close stops and
// waits for.
func New(out io.Writer, interval time.Duration) *Writer {
	w := &Writer{out: out, buf: make([]byte, 0, 16<<10), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(interval)
	return w
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		w.Flush()
	}
}

// Write gathers p. After Close it writes through.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.outMu.Lock()
		defer w.outMu.Unlock()
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	n := len(w.buf)
	w.mu.Unlock()
	switch {
	case n >= maxWaiting:
		if err := w.Flush(); err != nil {
			return 0, err
		}
	case n >= maxBuffered:
		select {
		case w.kick <- struct{}{}:
		default: // already woken
		}
	}
	return len(p), nil
}

// Flush writes what is gathered.
func (w *Writer) Flush() error {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.mu.Lock()
	out := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.mu.Unlock()
	if len(out) == 0 {
		w.giveBack(out)
		return nil
	}
	_, err := w.out.Write(out)
	w.giveBack(out)
	return err
}

// giveBack keeps a written buffer for the next swap, unless a burst made it large.
func (w *Writer) giveBack(b []byte) {
	if cap(b) > maxWaiting {
		return
	}
	w.mu.Lock()
	w.spare = b[:0]
	w.mu.Unlock()
}

// Close stops the flush goroutine, waits for it, and writes what is gathered; later writes
// go straight through. It is safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.Flush()
}

// Handler is a slog.Handler that flushes its Writer after each record at Warn or above, so
// warnings and errors are written at once (in order after the lines gathered before them).
type Handler struct {
	slog.Handler
	w *Writer
}

// NewHandler wraps next, which writes to w.
func NewHandler(next slog.Handler, w *Writer) *Handler { return &Handler{Handler: next, w: w} }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if err := h.Handler.Handle(ctx, r); err != nil {
		return err
	}
	if r.Level >= slog.LevelWarn {
		return h.w.Flush()
	}
	return nil
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{Handler: h.Handler.WithGroup(name), w: h.w}
}
