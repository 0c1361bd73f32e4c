package publisher

import (
	"sync"
	"time"
)

// refusalLines is how many lines about refused client requests the server writes a second.
// A client decides how many requests it sends: the rest are counted (the refusal metrics
// count every one) and said in one line when the next second's first is written, so that a
// client cannot fill the logs, nor spend the server's time formatting them.
const refusalLines = 20

// lineLimit lets through at most refusalLines lines a second.
type lineLimit struct {
	mu     sync.Mutex
	second time.Time // the second the count is for
	n      int       // lines let through in it
	held   int       // lines held back since the last let through
}

// allow reports whether a line may be written now and, when it may, how many were held back
// before it.
func (l *lineLimit) allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Truncate(time.Second); !s.Equal(l.second) {
		l.second, l.n = s, 0
	}
	if l.n >= refusalLines {
		l.held++
		return false, 0
	}
	l.n++
	held, l.held = l.held, 0
	return true, held
}

// logRefused writes an Info line about a refused client request, unless refusalLines were
// written this second already.
func (s *Server) logRefused(msg string, args ...any) {
	ok, held := s.refusedLines.allow(time.Now())
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "lines_held_back", held)
	}
	s.log.Info(msg, args...)
}
