package sio

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/googollee/go-socket.io/engineio/frame"
	eiopacket "github.com/googollee/go-socket.io/engineio/packet"
	"github.com/googollee/go-socket.io/engineio/session"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/googollee/go-socket.io/engineio/transport/polling"
)

// pollingTransport is go-socket.io's long-polling transport with its upgrade race mended.
//
// While a session upgrades to a websocket, go-socket.io pauses its polling connection, swaps
// the websocket in, and closes the polling connection. A reader or writer that took the
// polling connection just before the swap then meets it closed, and go-socket.io closes the
// whole session: the client's upgrade ends in "transport close". Here, once the polling
// connection has been paused, what fails on it fails as "try again", so that the session's
// reader and writer go on with the websocket (or with polling again, if the upgrade failed
// and resumed it).
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
}

// errUpgrading is temporary: go-socket.io's session retries on its current connection.
type errUpgrading struct{}

func (errUpgrading) Error() string   { return "polling connection paused for an upgrade" }
func (errUpgrading) Temporary() bool { return true }

// retryDelay keeps a session's reader and writer from spinning while an upgrade completes.
const retryDelay = time.Millisecond

func (c *pollingConn) NextReader() (frame.Type, eiopacket.Type, io.ReadCloser, error) {
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

func (c *pollingConn) Pause() {
	c.paused.Store(true)
	c.Conn.(session.Pauser).Pause()
}

func (c *pollingConn) Resume() {
	c.Conn.(session.Pauser).Resume()
	c.paused.Store(false)
}

func (c *pollingConn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.Conn.(http.Handler).ServeHTTP(w, r)
}
