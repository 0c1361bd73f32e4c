package publisher

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxPollBody caps what a polling client may send in one request.
const maxPollBody = 1 << 20

// asciiPolling makes text payloads that polling clients send readable by go-socket.io.
// socket.io-client 2.x frames them as "<length>:<packet>…" with lengths in UTF-16 code
// units, and go-socket.io reads the lengths as bytes, so one non-ASCII character (an
// accented name) garbles the payload and drops the client. Each packet is rewritten with its
// non-ASCII characters escaped (they can stand only inside JSON strings, where \uXXXX means
// the same) and its length recounted. Binary payloads and malformed bodies pass untouched.
func asciiPolling(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Query().Get("transport") != "polling" ||
			strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") {
			next.ServeHTTP(w, r)
			return
		}
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
		next.ServeHTTP(w, r)
	})
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
