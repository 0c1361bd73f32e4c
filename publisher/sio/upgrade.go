package sio

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/googollee/go-socket.io/engineio/frame"
	eiopacket "github.com/googollee/go-socket.io/engineio/packet"
	"github.com/googollee/go-socket.io/engineio/session"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/googollee/go-socket.io/engineio/transport/polling"
)

// pollingTransport is go-socket.io's long-polling transport with its upgrade mended, so that
// an upgrade loses nothing.
//
// While a session upgrades to a websocket, go-socket.io pauses its polling connection, swaps
// the websocket in once the client sends the upgrade packet, and closes the polling
// connection. Two things went wrong there:
//
//   - A reader or writer that took the polling connection just before the swap met it closed,
//     and go-socket.io closed the whole session. Here, once the polling connection has been
//     paused, what fails on it fails as "try again", so that the session's reader and writer
//     go on with the websocket (or with polling again, if the upgrade failed and resumed it).
//   - A POST that arrived while paused was refused ("payload: paused") and its packets lost,
//     yet socket.io-client 2.x sends its buffered packets over polling until its polling
//     transport has paused, which is after the server paused its own (after answering the
//     probe). Here such a POST is taken: its packets are held (see held) and read before
//     anything the websocket brings, or over polling again if the upgrade fails.
type pollingTransport struct{ polling.Transport }

func (t *pollingTransport) Accept(w http.ResponseWriter, r *http.Request) (transport.Conn, error) {
	c, err := t.Transport.Accept(w, r)
	if err != nil {
		return nil, err
	}
	return &pollingConn{Conn: c}, nil
}

type pollingConn struct {
	transport.Conn
	paused atomic.Bool
	held   atomic.Pointer[held] // the session's, known from its first request that names it

	gate    sync.Mutex
	pausing bool           // under gate: POSTs are held instead of fed
	feeding sync.WaitGroup // POSTs being fed to go-socket.io's payload
}

// errUpgrading is temporary: go-socket.io's session retries on its current connection.
type errUpgrading struct{}

func (errUpgrading) Error() string   { return "polling connection paused for an upgrade" }
func (errUpgrading) Temporary() bool { return true }

// retryDelay keeps a session's reader and writer from spinning while an upgrade completes.
const retryDelay = time.Millisecond

func (c *pollingConn) NextReader() (frame.Type, eiopacket.Type, io.ReadCloser, error) {
	if h := c.held.Load(); h != nil {
		if ft, pt, r, ok := h.next(); ok {
			return ft, pt, r, nil
		}
	}
	ft, pt, r, err := c.Conn.NextReader()
	if err != nil && c.paused.Load() {
		time.Sleep(retryDelay)
		return 0, 0, nil, errUpgrading{}
	}
	return ft, pt, r, err
}

func (c *pollingConn) NextWriter(ft frame.Type, pt eiopacket.Type) (io.WriteCloser, error) {
	w, err := c.Conn.NextWriter(ft, pt)
	if err != nil && c.paused.Load() {
		time.Sleep(retryDelay)
		return nil, errUpgrading{}
	}
	return w, err
}

// Pause lets the POSTs already being fed finish (the session's reader takes them), then
// pauses go-socket.io's payload; POSTs that come later are held.
func (c *pollingConn) Pause() {
	c.paused.Store(true)
	c.gate.Lock()
	c.pausing = true
	c.gate.Unlock()
	c.feeding.Wait()
	c.Conn.(session.Pauser).Pause()
}

func (c *pollingConn) Resume() {
	c.Conn.(session.Pauser).Resume()
	c.gate.Lock()
	c.pausing = false
	c.gate.Unlock()
	c.paused.Store(false)
}

func (c *pollingConn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if sc := connOf(r); sc != nil && c.held.Load() == nil {
		c.held.CompareAndSwap(nil, sc.held)
	}
	if r.Method == http.MethodPost {
		c.gate.Lock()
		if c.pausing {
			c.gate.Unlock()
			c.hold(w, r)
			return
		}
		c.feeding.Add(1)
		c.gate.Unlock()
		defer c.feeding.Done()
	}
	c.Conn.(http.Handler).ServeHTTP(w, r)
}

// hold takes a POST that came while the connection was paused. Its body is the payload
// ServeHTTP checked and made canonical.
func (c *pollingConn) hold(w http.ResponseWriter, r *http.Request) {
	h := c.held.Load()
	body, err := io.ReadAll(r.Body)
	if h == nil || err != nil {
		http.Error(w, "payload: paused", http.StatusBadRequest)
		return
	}
	if !h.push(body) {
		http.Error(w, "payload too large while upgrading", http.StatusRequestEntityTooLarge)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.Write([]byte("ok"))
}

// held are the packets a client sent over polling while its session was upgrading, waiting
// for the session's reader. They are bounded in bytes like one polling body.
type held struct {
	max int

	mu    sync.Mutex
	pkts  [][]byte // Engine.IO packets: a type byte and the data
	bytes int
}

// push holds the packets of a canonical text payload ("<length>:<packet>…", lengths in
// bytes). It reports false, holding nothing, when they would exceed the bound.
func (h *held) push(payload []byte) bool {
	var pkts [][]byte
	n := 0
	for len(payload) > 0 {
		pkt, rest, err := nextTextFrame(payload)
		if err != nil || len(pkt) == 0 {
			return false
		}
		pkts = append(pkts, pkt)
		n += len(pkt)
		payload = rest
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bytes+n > h.max {
		return false
	}
	h.pkts = append(h.pkts, pkts...)
	h.bytes += n
	return true
}

// next takes the first held packet, if any.
func (h *held) next() (frame.Type, eiopacket.Type, io.ReadCloser, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.pkts) == 0 {
		return 0, 0, nil, false
	}
	p := h.pkts[0]
	h.pkts[0] = nil
	h.pkts = h.pkts[1:]
	if len(h.pkts) == 0 {
		h.pkts = nil
	}
	h.bytes -= len(p)
	return frame.String, eiopacket.Type(p[0] - '0'), io.NopCloser(bytes.NewReader(p[1:])), true
}
