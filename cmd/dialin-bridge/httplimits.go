package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// httpLimits are the HTTP server's time limits (contract §3, "Limits"). The same server
// carries socket.io, whose long-polling GETs wait about 25 s for data and whose websockets
// live for hours once hijacked, so there is no server-wide ReadTimeout or WriteTimeout:
// headers have their own timeout, webhook bodies a deadline of their own per request, and
// idle keep-alive connections the server's IdleTimeout.
type httpLimits struct {
	Header time.Duration // request line and headers, from the first byte awaited
	Body   time.Duration // a whole webhook body, once its headers are read
	Idle   time.Duration // a keep-alive connection between two requests
}

// defaultLimits are the contract's.
var defaultLimits = httpLimits{Header: 10 * time.Second, Body: 30 * time.Second, Idle: 2 * time.Minute}

// Limit names, as counted by timeoutObserver.
const (
	limitHeader = "header"
	limitBody   = "body"
	limitIdle   = "idle"
)

// timeoutObserver counts connections and requests cut by a limit.
type timeoutObserver interface {
	HTTPTimeout(limit string)
}

// newHTTPServer returns the bridge's HTTP server on h with limits l. Serve it on
// l.listener(ln, obs), so that the connections it cuts are counted.
func newHTTPServer(h http.Handler, l httpLimits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.Header,
		IdleTimeout:       l.Idle,
		ConnState:         trackConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// webhookBody reads a webhook's body within l.Body of its headers, before next sees it. A
// body that does not arrive in time is answered 408 and its connection closed: a client
// trickling bytes cannot hold a connection open before any signature check. At most
// maxBody+1 bytes are read here; next still applies its own cap to what follows.
func (l httpLimits) webhookBody(next http.Handler, maxBody int64, obs timeoutObserver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(l.Body)); err != nil {
			next.ServeHTTP(w, r) // a connection without deadlines (not net/http's own)
			return
		}
		buf := readBodies.Get().(*bytes.Buffer)
		buf.Reset()
		defer func() {
			// The handler has returned: nothing reads the body any more.
			if int64(buf.Cap()) <= maxBody+bytes.MinRead+1 {
				readBodies.Put(buf)
			}
		}()
		_, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1))
		if isTimeout(err) {
			obs.HTTPTimeout(limitBody)
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body not received within %v", l.Body), http.StatusRequestTimeout)
			return
		}
		// The body is read (or broken): no deadline may cut what the handler does next.
		rc.SetReadDeadline(time.Time{})
		rest := r.Body
		if err != nil {
			rest = io.NopCloser(errReader{err}) // next answers a broken body as it always has
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf.Bytes()), rest), r.Body}
		next.ServeHTTP(w, r)
	})
}

// readBodies are the buffers webhookBody reads bodies into, each given back once its
// request is answered.
var readBodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// listener wraps ln so that connections the server cuts for a slow header or for idleness
// are counted in obs.
func (l httpLimits) listener(ln net.Listener, obs timeoutObserver) net.Listener {
	return limitListener{Listener: ln, obs: obs}
}

type limitListener struct {
	net.Listener
	obs timeoutObserver
}

func (ln limitListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &limitConn{Conn: c, obs: ln.obs}, nil
}

// limitConn knows its connection's state in the server and whether a byte arrived since the
// state last changed, so that a read that times out can be told apart: waiting idle for a
// next request (nothing read), or in the middle of headers. Body timeouts are counted by
// webhookBody, and hijacked connections (websockets) keep their own deadlines.
type limitConn struct {
	net.Conn
	obs    timeoutObserver
	state  atomic.Int32 // an http.ConnState
	read   atomic.Bool  // a byte arrived since the state last changed
	counts atomic.Bool  // counted once
}

func (c *limitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Store(true)
	}
	if isTimeout(err) && !c.counts.Load() {
		limit := ""
		switch http.ConnState(c.state.Load()) {
		case http.StateNew:
			limit = limitHeader
		case http.StateIdle:
			limit = limitIdle
			if c.read.Load() {
				limit = limitHeader // the next request had begun
			}
		}
		if limit != "" && c.counts.CompareAndSwap(false, true) {
			c.obs.HTTPTimeout(limit)
		}
	}
	return n, err
}

// trackConnState is the server's ConnState hook.
func trackConnState(nc net.Conn, s http.ConnState) {
	if c, ok := nc.(*limitConn); ok {
		c.state.Store(int32(s))
		c.read.Store(false)
	}
}
