package sio

import (
	"errors"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/googollee/go-socket.io/engineio"
	eio "github.com/googollee/go-socket.io/engineio/session"
)

// Conn is one client's Engine.IO session.
type Conn struct {
	srv  *Server
	eio  engineio.Conn
	out  *outbox
	join *time.Timer // closes the session if it has not connected to the namespace in time
	held *held       // what the client sent over polling while its session upgraded

	closed  atomic.Bool // Close was called: the read loop ends at its next packet at the latest
	behind  atomic.Bool // disconnected for falling too far behind
	joining atomic.Bool // a CONNECT to the namespace is being handled

	mu        sync.Mutex
	connected bool // to the namespace
	state     any  // what Handler.Connect returned
}

// ID is the session's id.
func (c *Conn) ID() string { return c.eio.ID() }

// RemoteAddr is the client's address, for logs.
func (c *Conn) RemoteAddr() string { return c.eio.RemoteAddr().String() }

// State is what Handler.Connect returned for this connection, or nil before it connected.
func (c *Conn) State() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Send queues a packet of the namespace, framed by EventPacket, in order with the
// connection's others. Nothing is sent to a client not connected to the namespace (it left,
// or was expelled). A client too far behind is disconnected instead, and Send reports false.
func (c *Conn) Send(p []byte) bool {
	c.mu.Lock()
	if !c.connected {
		c.mu.Unlock()
		return true
	}
	ok := c.out.push(p) // under mu: nothing is queued after an expulsion's packets
	c.mu.Unlock()
	if ok {
		return true
	}
	return c.tooFarBehind()
}

// push queues a packet whatever the client's state (the server's own: CONNECT answers and
// refusals).
func (c *Conn) push(p []byte) bool {
	if c.out.push(p) {
		return true
	}
	return c.tooFarBehind()
}

// Expel ends the client's connection to the namespace from the server's side, telling it
// why: an ERROR packet with reason, then a DISCONNECT. Nothing of the namespace is sent
// after them. The handler hears Disconnect (from the caller's goroutine); the session stays
// open, so that the client may connect again within the join timeout. It reports false when
// the client was not connected (not yet, or no longer).
func (c *Conn) Expel(reason string) bool {
	nsp := c.srv.opts.Namespace
	c.mu.Lock()
	if !c.connected {
		c.mu.Unlock()
		return false
	}
	c.connected = false
	ok := c.out.push(errorPacket(nsp, reason)) && c.out.push(prefix(typeDisconnect, nsp, 0))
	c.mu.Unlock()
	if !ok {
		c.tooFarBehind()
	}
	c.srv.opts.Handler.Disconnect(c)
	c.join.Reset(c.srv.opts.JoinTimeout)
	return true
}

func (c *Conn) tooFarBehind() bool {
	// The sender may hold a lock (the presence core's, of a call): it only flags and closes;
	// the read loop logs as it ends.
	if c.behind.CompareAndSwap(false, true) {
		c.srv.refused("queue")
		c.Close()
	}
	return false
}

// Close closes the session. Its read loop then ends, and the handler hears of it.
func (c *Conn) Close() {
	c.closed.Store(true)
	c.eio.Close()
}

// serve begins a session the engine accepted: its writer, its read loop and its join timer.
func (s *Server) serve(ec engineio.Conn) {
	c := &Conn{srv: s, eio: ec, out: newOutbox(s.opts.MaxQueue), held: &held{max: s.opts.MaxMessage}}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.ids.accepted(ec.ID())
		ec.Close()
		s.engine.Remove(ec.ID())
		return
	}
	s.conns[ec.ID()] = c
	s.wg.Add(1)
	s.mu.Unlock()
	s.ids.accepted(ec.ID()) // requests held for it find it now (see ServeHTTP)
	if s.opts.Observer != nil {
		s.opts.Observer.Sessions(1)
	}
	c.join = time.AfterFunc(s.opts.JoinTimeout, c.joinExpired)
	c.out.run(ec)
	go func() {
		defer s.wg.Done()
		c.readLoop()
	}()
	c.push([]byte{typeConnect}) // the root namespace, which socket.io 2.x connects at once
}

func (c *Conn) joinExpired() {
	c.mu.Lock()
	connected := c.connected
	c.mu.Unlock()
	if !connected {
		c.srv.refused("join_timeout")
		c.Close()
	}
}

// readLoop reads the client's packets until its session ends. Every message is read whole,
// within the cap, and parsed here before anything acts on it.
func (c *Conn) readLoop() {
	defer c.end()
	max := c.srv.opts.MaxMessage
	for {
		ft, r, err := c.eio.NextReader()
		if err != nil {
			return
		}
		if c.closed.Load() {
			// Closed while an upgrade swapped its transport: the new one stays open until here.
			r.Close()
			return
		}
		if ft != eio.TEXT {
			r.Close()
			c.srv.refused("binary")
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
		if err != nil {
			r.Close()
			return
		}
		if len(data) > max {
			r.Close()
			c.srv.refused("size")
			return
		}
		p, err := parsePacket(data)
		if err != nil {
			r.Close()
			reason := "packet"
			if errors.Is(err, ErrBinary) {
				reason = "binary"
			}
			c.srv.refused(reason)
			return
		}
		// Over polling, closing the last packet's reader answers its POST, and the client's
		// next POST may come at once: it is capped by whether this one joined the namespace.
		joining := p.typ == typeConnect && p.nsp == c.srv.opts.Namespace
		if joining {
			c.joining.Store(true)
		}
		r.Close()
		c.handle(p)
		if joining {
			c.joining.Store(false)
		}
	}
}

// end runs when the read loop ends: the handler hears of a connected client's end, and the
// session's writer and timer stop.
func (c *Conn) end() {
	if c.behind.Load() {
		c.srv.opts.Log.Warn("disconnected a socket.io client too far behind", "session", c.ID(), "limit_bytes", c.srv.opts.MaxQueue)
	}
	c.join.Stop()
	c.leave()
	c.out.close()
	c.eio.Close()
	c.out.wait() // a writer stuck on the connection ends with it
	s := c.srv
	s.engine.Remove(c.ID())
	s.mu.Lock()
	if s.conns[c.ID()] == c {
		delete(s.conns, c.ID())
	}
	s.mu.Unlock()
	if s.opts.Observer != nil {
		s.opts.Observer.Sessions(-1)
	}
}

func (c *Conn) handle(p packet) {
	nsp := c.srv.opts.Namespace
	switch p.typ {
	case typeConnect:
		c.connect(p)
	case typeDisconnect:
		if p.nsp == nsp {
			c.leave()
			c.join.Reset(c.srv.opts.JoinTimeout)
		} else if p.nsp == "/" {
			c.Close()
		}
	case typeEvent:
		if p.nsp != nsp || !c.isConnected() {
			return // socket.io ignores packets of a namespace the client has not joined
		}
		name, arg, ok := eventArgs(p.data)
		if !ok {
			c.srv.refused("packet")
			return
		}
		id := p.id
		c.srv.opts.Handler.Event(c, name, arg, func(ack []byte) {
			if id >= 0 {
				c.Send(ackPacket(nsp, id, ack))
			}
		})
	}
	// Acknowledgements (the server asks for none) and ERROR packets from a client mean
	// nothing here.
}

func (c *Conn) connect(p packet) {
	nsp := c.srv.opts.Namespace
	switch {
	case p.nsp == "/":
		c.push([]byte{typeConnect})
		return
	case p.nsp != nsp:
		c.srv.refused("namespace")
		c.push(errorPacket(p.nsp, "Invalid namespace"))
		return
	case c.isConnected():
		c.push(connectPacket(nsp)) // a repeated CONNECT keeps the connection it has
		return
	}
	u := c.eio.URL()
	query := u.Query()
	if own, err := url.ParseQuery(p.query); err == nil {
		for k, v := range own {
			query[k] = v
		}
	}
	state, err := c.srv.opts.Handler.Connect(c, query)
	if err != nil {
		c.push(errorPacket(nsp, err.Error()))
		return
	}
	c.mu.Lock()
	c.connected, c.state = true, state
	ok := c.out.push(connectPacket(nsp)) // before anything sent to the connected client
	c.mu.Unlock()
	if !ok {
		c.tooFarBehind()
	}
	c.join.Stop()
}

// mayJoin reports whether the client has joined the namespace or is joining it now.
func (c *Conn) mayJoin() bool { return c.joining.Load() || c.isConnected() }

func (c *Conn) isConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// leave ends the client's connection to the namespace, telling the handler.
func (c *Conn) leave() {
	c.mu.Lock()
	was := c.connected
	c.connected = false
	c.mu.Unlock()
	if was {
		c.srv.opts.Handler.Disconnect(c)
	}
}
