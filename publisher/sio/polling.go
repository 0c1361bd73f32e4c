package sio

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Engine.IO 3 packet types a client may send in a payload: close, ping, message, upgrade,
// noop. Open and pong are the server's.
func clientPacketType(c byte) bool {
	return c == '1' || c == '2' || c == '4' || c == '5' || c == '6'
}

// maxLengthDigits bounds a payload's length field: no packet is longer than a body.
const maxLengthDigits = 8

// canonicalPayload checks a polling request's body and returns it as go-socket.io will read
// it: a text payload of ASCII packets with lengths in bytes. It reads both formats that
// socket.io 2.x clients send:
//
//   - text ("<length>:<packet>…", lengths in UTF-16 code units), which JavaScript clients
//     send as text/plain;
//   - binary (a 0 or 1 byte for a string or binary packet, the length as digit bytes, 255,
//     then the packet), which python-socketio and the Java client send as
//     application/octet-stream.
//
// Binary packets, packet types a client does not send and lengths that do not match the body
// are refused. go-socket.io reads each length into an allocation before checking it; here no
// length reaches it that was not checked against the body first.
func canonicalPayload(body []byte, binaryFormat bool) ([]byte, error) {
	if len(body) == 0 {
		return nil, ErrMalformed
	}
	out := make([]byte, 0, len(body)+16)
	for len(body) > 0 {
		var pkt []byte
		var err error
		if binaryFormat {
			pkt, body, err = nextBinaryFrame(body)
		} else {
			pkt, body, err = nextTextFrame(body)
		}
		if err != nil {
			return nil, err
		}
		if len(pkt) > 0 && pkt[0] == 'b' {
			return nil, ErrBinary
		}
		if len(pkt) == 0 || !clientPacketType(pkt[0]) || !utf8.Valid(pkt) {
			return nil, ErrMalformed
		}
		if pkt[0] == '4' {
			if _, err := parsePacket(pkt[1:]); err != nil {
				return nil, err
			}
		}
		pkt = ASCIIJSON(pkt)
		out = strconv.AppendInt(out, int64(len(pkt)), 10)
		out = append(out, ':')
		out = append(out, pkt...)
	}
	return out, nil
}

// nextTextFrame takes one "<length>:<packet>" off a text payload, the length in UTF-16 code
// units as JavaScript counts them.
func nextTextFrame(body []byte) (pkt, rest []byte, err error) {
	colon := bytes.IndexByte(body, ':')
	if colon <= 0 || colon > maxLengthDigits {
		return nil, nil, ErrMalformed
	}
	units, err := strconv.Atoi(string(body[:colon]))
	if err != nil || units <= 0 || units > len(body) {
		return nil, nil, ErrMalformed
	}
	body = body[colon+1:]
	n := 0
	for units > 0 {
		if n >= len(body) {
			return nil, nil, ErrMalformed
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
		return nil, nil, ErrMalformed
	}
	return body[:n], body[n:], nil
}

// nextBinaryFrame takes one frame off a binary payload: refusing binary packets, keeping
// string packets (their length in bytes).
func nextBinaryFrame(body []byte) (pkt, rest []byte, err error) {
	switch body[0] {
	case 0:
	case 1:
		return nil, nil, ErrBinary
	default:
		return nil, nil, ErrMalformed
	}
	n, i := 0, 1
	for ; i < len(body) && body[i] != 0xFF; i++ {
		if body[i] > 9 || i > maxLengthDigits {
			return nil, nil, ErrMalformed
		}
		n = n*10 + int(body[i])
	}
	if i == 1 || i >= len(body) || n <= 0 || n > len(body)-i-1 {
		return nil, nil, ErrMalformed
	}
	body = body[i+1:]
	return body[:n], body[n:], nil
}

// isBinaryPayload reports whether a polling body is in the binary format, by its type.
func isBinaryPayload(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	return err == nil && t == "application/octet-stream"
}

var errHandlerDone = errors.New("response already finished")

// guardedWriter collects a polling response written from any goroutine until sealed.
//
// When a polling session closes while a packet is being written, go-socket.io returns from
// the long-poll handler while its encoder still writes to the response. The body is therefore
// collected in a buffer, and only the handler's goroutine copies it to the response once
// go-socket.io has returned; a write that comes later is dropped instead of racing net/http
// for the response.
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
