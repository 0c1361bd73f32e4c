package publisher

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxPollBody caps what a polling client may send in one request.
const maxPollBody = 1 << 20

// pollingFixes wraps go-socket.io's handler with two repairs to its long-polling transport:
//
//   - Text payloads that polling clients send are made readable. socket.io-client 2.x frames
//     them as "<length>:<packet>…" with lengths in UTF-16 code units, and go-socket.io reads
//     the lengths as bytes, so one non-ASCII character (an accented name) garbles the payload
//     and drops the client. Each packet is rewritten with its non-ASCII characters escaped
//     (they can stand only inside JSON strings, where \uXXXX means the same) and its length
//     recounted. Binary payloads and malformed bodies pass untouched.
//   - When a polling session closes while a packet is being written, go-socket.io returns from
//     the long-poll handler while its encoder still writes to the response. The body is
//     therefore collected in a buffer, and only the handler's goroutine copies it to the
//     response once go-socket.io has returned; a write that comes later is dropped instead of
//     racing net/http for the response.
func pollingFixes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("transport") != "polling" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPollBody))
			if err != nil {
				http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
				return
			}
			if fixed, ok := reframe(body); ok {
				body = fixed
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		}
		g := &guardedWriter{w: w}
		defer g.seal()
		next.ServeHTTP(g, r)
	})
}

var errHandlerDone = errors.New("response already finished")

// guardedWriter collects a response body written from any goroutine until sealed.
type guardedWriter struct {
	w      http.ResponseWriter
	mu     sync.Mutex
	body   bytes.Buffer
	sealed bool
}

func (g *guardedWriter) Header() http.Header { return g.w.Header() }

func (g *guardedWriter) WriteHeader(code int) { g.w.WriteHeader(code) }

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealed {
		return 0, errHandlerDone
	}
	return g.body.Write(p)
}

// seal stops further writes and sends what was written. It runs on the handler's goroutine.
func (g *guardedWriter) seal() {
	g.mu.Lock()
	g.sealed = true
	body := g.body.Bytes()
	g.mu.Unlock()
	if len(body) > 0 {
		g.w.Write(body)
	}
}

// reframe rewrites an Engine.IO 3 text payload with ASCII packets and byte lengths. It
// reports false for a payload that is already ASCII or that it cannot read.
func reframe(body []byte) ([]byte, bool) {
	if isASCII(body) || !utf8.Valid(body) {
		return nil, false
	}
	var out []byte
	for len(body) > 0 {
		colon := bytes.IndexByte(body, ':')
		if colon <= 0 {
			return nil, false
		}
		units, err := strconv.Atoi(string(body[:colon]))
		if err != nil || units < 0 {
			return nil, false
		}
		body = body[colon+1:]
		// Take `units` UTF-16 code units of text.
		n := 0
		for units > 0 {
			if n >= len(body) {
				return nil, false
			}
			r, size := utf8.DecodeRune(body[n:])
			n += size
			if r >= 0x10000 {
				units -= 2
			} else {
				units--
			}
		}
		if units < 0 {
			return nil, false
		}
		packet := asciiJSON(body[:n])
		out = strconv.AppendInt(out, int64(len(packet)), 10)
		out = append(out, ':')
		out = append(out, packet...)
		body = body[n:]
	}
	return out, true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
