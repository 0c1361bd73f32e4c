package sio

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/googollee/go-socket.io/engineio/frame"
	eiopacket "github.com/googollee/go-socket.io/engineio/packet"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/gorilla/websocket"
)

// wsTransport is Engine.IO's websocket transport for go-socket.io's engine, in place of the
// one go-socket.io ships. It speaks the same protocol over the same gorilla/websocket
// connection, with two differences that matter when one event goes to many clients:
//
//   - go-socket.io's transport starts a timer and a goroutine for every frame read or
//     written (to print a warning if the frame is never closed); this one does not.
//   - Its frames can be gathered: while the client's writer holds the connection corked,
//     frames collect in a buffer and leave in one write when it uncorks, so a client that
//     is sent several events at once costs one system call, not one per event.
type wsTransport struct {
	checkOrigin func(*http.Request) bool
	maxMessage  int64
	refused     func(reason string)
}

var errNoDial = errors.New("websocket transport: dialing is not supported")

func (*wsTransport) Name() string { return "websocket" }

func (*wsTransport) Dial(*url.URL, http.Header) (transport.Conn, error) { return nil, errNoDial }

// Accept upgrades the request with the server's origin check (gorilla/websocket's default
// refuses every other origin, browsers on another origin included).
func (t *wsTransport) Accept(w http.ResponseWriter, r *http.Request) (transport.Conn, error) {
	h := &corkingHijacker{ResponseWriter: w}
	ws, err := (&websocket.Upgrader{
		CheckOrigin: t.checkOrigin,
		// A connection holds a small read buffer of its own (messages are read in pieces, up
		// to the cap, whatever its size) and a write buffer only while it writes: most of a
		// room's clients are idle most of the time (contract §3: memory per connection).
		ReadBufferSize:  readBuffer,
		WriteBufferPool: writeBuffers,
	}).Upgrade(h, r, w.Header())
	if err != nil {
		return nil, err
	}
	// gorilla/websocket closes the connection on a larger message, before reading it whole.
	ws.SetReadLimit(t.maxMessage)
	c := &wsConn{ws: ws, cork: h.conn, url: *r.URL, header: r.Header, closed: make(chan struct{}), refused: t.refused}
	if sc := connOf(r); sc != nil {
		c.held = sc.held // an upgrade: what the client sent over polling meanwhile comes first
	} else {
		c.opening = true
	}
	frames := wsFrames{c}
	c.FrameReader = eiopacket.NewDecoder(frames)
	c.FrameWriter = eiopacket.NewEncoder(frames)
	return c, nil
}

const readBuffer = 1 << 10

var writeBuffers = &sync.Pool{}

// corkingHijacker hands gorilla/websocket the hijacked connection wrapped in a corkConn.
type corkingHijacker struct {
	http.ResponseWriter
	conn *corkConn
}

func (h *corkingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("websocket transport: the response cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &corkConn{Conn: nc}
	return h.conn, brw, nil
}

// corkConn is a connection whose writes can be held back and sent together.
type corkConn struct {
	net.Conn

	mu     sync.Mutex
	corked bool
	// While corked and written to: the frames held back, in a buffer from gatherBuffers.
	gather *[]byte
	// While corked: the latest write deadline asked for, if any (hasDeadline; zero: none).
	// Kept by value: a pointer to the argument would move every call's t to the heap,
	// corked or not.
	deadline    time.Time
	hasDeadline bool
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		if c.gather == nil {
			c.gather = gatherBuffers.Get().(*[]byte)
		}
		*c.gather = append(*c.gather, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// gatherBuffers holds the buffers that corked connections gather their frames in. A
// connection takes one at its first corked write and gives it back at Uncork, so an idle
// client holds none, and a busy one allocates none for each batch it writes.
var gatherBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxGatherKept: a larger gathering buffer (a client catching up on a long queue) is left to
// the collector rather than kept for the next batch.
const maxGatherKept = 64 << 10

// SetWriteDeadline passes the deadline on, except while corked: gorilla/websocket sets one
// before each write (the session's for frames, a second for a control frame), and what is
// held back leaves at Uncork under the latest of them.
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.SetWriteDeadline(t)
	}
	if !c.hasDeadline || (!c.deadline.IsZero() && (t.IsZero() || t.After(c.deadline))) {
		c.deadline, c.hasDeadline = t, true
	}
	return nil
}

// Cork holds back writes until Uncork.
func (c *corkConn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork sends what was held back, in one write. A failed write closes the connection, so
// that its reader, and with it the session, ends.
func (c *corkConn) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.hasDeadline {
		c.Conn.SetWriteDeadline(c.deadline)
		c.deadline, c.hasDeadline = time.Time{}, false
	}
	g := c.gather
	if g == nil {
		return nil
	}
	c.gather = nil // an idle client holds no gathering buffer
	var err error
	if len(*g) > 0 {
		_, err = c.Conn.Write(*g)
	}
	if cap(*g) <= maxGatherKept {
		*g = (*g)[:0]
		gatherBuffers.Put(g)
	}
	if err != nil {
		c.Conn.Close()
	}
	return err
}

// corker is what a client's writer looks for to gather its frames.
type corker interface {
	Cork()
	Uncork() error
}

// remoteAddr is a connection's remote address that also leads to its corkConn: go-socket.io
// offers no other way from a socket.io connection to its transport, and it passes the
// address through unchanged.
type remoteAddr struct {
	net.Addr
	cork *corkConn
}

// corkOf returns the corker behind a socket.io connection's current transport, or nil when
// it has none (a polling connection).
func corkOf(addr net.Addr) corker {
	if a, ok := addr.(remoteAddr); ok && a.cork != nil {
		return a.cork
	}
	return nil
}

// wsConn implements transport.Conn over a gorilla/websocket connection.
type wsConn struct {
	transport.FrameReader
	transport.FrameWriter

	ws     *websocket.Conn
	cork   *corkConn
	url    url.URL
	header http.Header

	refused func(reason string)

	// held, for an upgrade, are the packets the client sent over polling while upgrading;
	// once the upgrade packet is read, they are read before the websocket's own.
	held     *held
	upgraded atomic.Bool
	// opening: a handshake whose first frame (the handshake's answer) is not yet written.
	// go-socket.io's engine never hands over, nor forgets, a session whose handshake answer
	// failed to be written, and Close would wait for it; so that write cannot fail here, and
	// a broken connection is found by the session's reader instead.
	opening bool

	rmu, wmu  sync.Mutex // one reader, one writer at a time, as gorilla/websocket requires
	closed    chan struct{}
	closeOnce sync.Once
}

// NextReader reads the next packet: once upgraded, the held ones first.
func (c *wsConn) NextReader() (frame.Type, eiopacket.Type, io.ReadCloser, error) {
	if c.held != nil && c.upgraded.Load() {
		if ft, pt, r, ok := c.held.next(); ok {
			return ft, pt, r, nil
		}
	}
	ft, pt, r, err := c.FrameReader.NextReader()
	if err == nil && pt == eiopacket.UPGRADE {
		c.upgraded.Store(true)
	}
	return ft, pt, r, err
}

func (c *wsConn) URL() url.URL              { return c.url }
func (c *wsConn) RemoteHeader() http.Header { return c.header }
func (c *wsConn) LocalAddr() net.Addr       { return c.ws.LocalAddr() }

func (c *wsConn) RemoteAddr() net.Addr { return remoteAddr{Addr: c.ws.RemoteAddr(), cork: c.cork} }

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.SetWriteDeadline(t)
}

// ServeHTTP returns at once: the connection is hijacked, and its request's goroutine (and
// stack) need not live as long as it does (go-socket.io's transport holds it until the
// connection closes).
func (c *wsConn) ServeHTTP(http.ResponseWriter, *http.Request) {}

func (c *wsConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.ws.Close()
}

// wsFrames maps websocket messages to Engine.IO frames.
type wsFrames struct{ c *wsConn }

func (f wsFrames) NextReader() (frame.Type, io.ReadCloser, error) {
	f.c.rmu.Lock()
	defer f.c.rmu.Unlock()
	typ, r, err := f.c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	switch typ {
	case websocket.TextMessage:
		return frame.String, drainCloser{r}, nil
	case websocket.BinaryMessage:
		// Binary Engine.IO packets carry socket.io attachments, which this protocol has none of.
		f.c.refused("binary")
		return 0, nil, ErrBinary
	}
	return 0, nil, transport.ErrInvalidFrame
}

func (f wsFrames) NextWriter(ft frame.Type) (io.WriteCloser, error) {
	t := websocket.TextMessage
	switch ft {
	case frame.String:
	case frame.Binary:
		t = websocket.BinaryMessage
	default:
		return nil, transport.ErrInvalidFrame
	}
	f.c.wmu.Lock()
	opening := f.c.opening
	f.c.opening = false
	w, err := f.c.ws.NextWriter(t)
	if err != nil {
		f.c.wmu.Unlock()
		if opening {
			return discardCloser{}, nil
		}
		return nil, err
	}
	return &frameWriter{w: w, mu: &f.c.wmu, quiet: opening}, nil
}

// drainCloser reads the rest of a frame when closed.
type drainCloser struct{ io.Reader }

func (d drainCloser) Close() error {
	_, err := io.Copy(io.Discard, d.Reader)
	return err
}

// frameWriter holds the connection's writer until closed.
type frameWriter struct {
	w     io.WriteCloser
	mu    *sync.Mutex
	done  bool
	quiet bool // the handshake's answer: errors are left to the reader to find
}

func (w *frameWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if w.quiet {
		return len(p), nil
	}
	return n, err
}

func (w *frameWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.mu.Unlock()
	err := w.w.Close()
	if w.quiet {
		return nil
	}
	return err
}

// discardCloser takes a frame that cannot be written.
type discardCloser struct{}

func (discardCloser) Write(p []byte) (int, error) { return len(p), nil }
func (discardCloser) Close() error                { return nil }
