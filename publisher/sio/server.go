// Package sio is the socket.io 2.x server room clients connect to: Engine.IO 3 sessions from
// go-socket.io's engine, and in front of them the boundary every byte from a client crosses
// before any library parses it. It owns the transports (websocket and long-polling), the
// caps and timeouts of the protocol, the origin check, and the socket.io packets of one
// namespace: CONNECT and its acknowledgement or ERROR, events and their acknowledgements.
// It knows nothing of topics or tokens; its Handler does.
package sio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/googollee/go-socket.io/engineio"
	"github.com/googollee/go-socket.io/engineio/transport"
)

// Handler is what the server tells of one namespace. Its methods run on the connection's
// read loop, one at a time per connection (but see Disconnect): they must not wait on
// anything slow.
type Handler interface {
	// Connect is a CONNECT to the namespace. query is the handshake's query with the
	// CONNECT's own query over it. An error refuses the connection: the client is sent an
	// ERROR packet with the error's text, and its session closes unless it connects again
	// before the join timeout.
	Connect(c *Conn, query url.Values) (state any, err error)
	// Event is an event of a connected client. The handler calls reply once with the JSON
	// that answers the event's acknowledgement (nil: an empty one), at once or later from
	// another goroutine: an event whose answer waits on something slow is answered off the
	// read loop, and the client's next events are read meanwhile. reply sends nothing when
	// the client did not ask for an acknowledgement, or has gone.
	Event(c *Conn, name string, arg json.RawMessage, reply func(ack []byte))
	// Disconnect is the end of a connected client: it left the namespace, or its session
	// closed (on the read loop), or the server expelled it (on Expel's caller's goroutine,
	// possibly while an Event of the client runs).
	Disconnect(c *Conn)
}

// Observer is told of sessions and of what the server refused, for metrics.
type Observer interface {
	Sessions(delta int)
	Refused(reason string)
}

// Options configure a server. Zero values take the defaults.
type Options struct {
	Namespace string
	Handler   Handler
	Observer  Observer
	Log       *slog.Logger

	// AllowedOrigins are the browser origins (scheme://host[:port]) that may connect; empty
	// or "*" allows any. Requests without an Origin (clients that are not browsers) are
	// always allowed.
	AllowedOrigins []string
	// JoinTimeout closes a session that has not connected to the namespace (30 s).
	JoinTimeout time.Duration
	// MaxMessage caps a websocket message and a polling body (1 MiB).
	MaxMessage int
	// MaxPreJoin caps a polling body of a session that has not joined the namespace (16 KiB):
	// before a valid token nobody may make the server hold a megabyte.
	MaxPreJoin int
	// BodyTimeout is how long a polling body may take to arrive whole after its headers
	// (30 s); a slower one is answered 408 and its connection closed.
	BodyTimeout time.Duration
	// MaxQueue caps the bytes waiting to be written to one client (1 MiB).
	MaxQueue int
	// Clients ping every PingInterval (10 s). go-socket.io drops a session that reads
	// nothing for PingTimeout (15 s; not interval plus timeout), so the timeout is the
	// longer: a client that vanishes without closing is noticed within it.
	PingInterval, PingTimeout time.Duration
}

// Server is a socket.io server of one namespace. Serve it with ServeHTTP under /socket.io/.
type Server struct {
	opts    Options
	engine  *engineio.Server
	origins map[string]bool // nil: any
	ids     *idGenerator

	mu      sync.Mutex
	conns   map[string]*Conn // by session id
	closing bool
	wg      sync.WaitGroup // each connection's read loop (which waits for its writer)
	opening sync.WaitGroup // requests that may begin a session (they name none)
	accept  sync.WaitGroup // the accept loop
}

// New returns a server; call Start before serving it and Close when done.
func New(opts Options) *Server {
	if opts.Namespace == "" {
		opts.Namespace = "/"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.JoinTimeout, 30*time.Second)
	def(&opts.PingInterval, 10*time.Second)
	def(&opts.PingTimeout, 15*time.Second)
	def(&opts.BodyTimeout, 30*time.Second)
	if opts.MaxMessage == 0 {
		opts.MaxMessage = 1 << 20
	}
	if opts.MaxPreJoin == 0 {
		opts.MaxPreJoin = 16 << 10
	}
	opts.MaxPreJoin = min(opts.MaxPreJoin, opts.MaxMessage)
	if opts.MaxQueue == 0 {
		opts.MaxQueue = 1 << 20
	}
	s := &Server{opts: opts, conns: make(map[string]*Conn), ids: &idGenerator{}}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			s.origins = nil
			break
		}
		if s.origins == nil {
			s.origins = make(map[string]bool)
		}
		s.origins[strings.ToLower(o)] = true
	}
	ws := &wsTransport{checkOrigin: s.originAllowed, maxMessage: int64(opts.MaxMessage), refused: s.refused}
	s.engine = engineio.NewServer(&engineio.Options{
		Transports:         []transport.Transport{&pollingTransport{}, ws},
		SessionIDGenerator: s.ids,
		PingInterval:       opts.PingInterval,
		PingTimeout:        opts.PingTimeout,
	})
	return s
}

// Start accepts sessions in the background until Close.
func (s *Server) Start() {
	s.accept.Add(1)
	go func() {
		defer s.accept.Done()
		for {
			ec, err := s.engine.Accept()
			if err != nil {
				return
			}
			s.serve(ec)
		}
	}()
}

// Close closes every session and waits for their loops to end.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	// go-socket.io's engine hands each new session to Accept from a goroutine of its own,
	// which panics if the engine is closed first. No request reaches the engine any more; wait
	// for those that might still begin a session, then for the sessions they began to be
	// accepted (and closed by serve).
	s.opening.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for s.ids.pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.ids.pending() > 0 {
		s.opts.Log.Warn("socket.io sessions still opening at shutdown; leaving the engine open")
		return
	}
	s.engine.Close()
	s.accept.Wait()
}

// Count is the number of open sessions, connected to the namespace or not.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) refused(reason string) {
	if s.opts.Observer != nil {
		s.opts.Observer.Refused(reason)
	}
}

// originAllowed reports whether a request may come from its Origin.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || s.origins == nil || s.origins[strings.ToLower(origin)]
}

// ServeHTTP is the boundary in front of go-socket.io's engine: closed while shutting down,
// origins checked, sessions looked up before anything of a request is read, CORS answered,
// polling bodies capped, timed and checked, JSONP refused.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sid := q.Get("sid")
	s.mu.Lock()
	closing := s.closing
	if !closing && sid == "" {
		s.opening.Add(1)
		defer s.opening.Done()
	}
	s.mu.Unlock()
	if closing {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if !s.originAllowed(r) {
		s.refused("origin")
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	polling := q.Get("transport") == "polling"
	var c *Conn
	switch {
	case sid != "":
		// go-socket.io's engine looks the session up only after its transport has read the
		// body (and its RequestChecker, called first, cannot look sessions up and answers
		// 502): the lookup is made here, before a byte of the body is read.
		s.ids.await(r.Context(), sid, handOverWait)
		if c = s.lookup(sid); c == nil {
			s.refused("session")
			refuseUnread(w, r, http.StatusBadRequest, "unknown session")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), connKey{}, c))
	case polling && r.Method != http.MethodGet && r.Method != http.MethodOptions:
		// An Engine.IO session begins with a GET, whose answer carries the handshake. The
		// engine would begin one for any request, and a session whose handshake it cannot
		// answer stays "opening" until its ping timeout, holding up Close.
		s.refused("handshake")
		refuseUnread(w, r, http.StatusBadRequest, "a session begins with a GET")
		return
	}
	if !polling {
		s.engine.ServeHTTP(w, r)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		// Browsers' polling requests carry credentials, so "*" would not do.
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
	}
	switch {
	case r.Method == http.MethodOptions:
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	case q.Has("j"):
		s.refused("jsonp")
		http.Error(w, "JSONP polling is not supported", http.StatusBadRequest)
		return
	case r.Method == http.MethodPost:
		if !s.checkPollingBody(w, r, c) {
			return
		}
	}
	g := &guardedWriter{w: w}
	defer g.seal()
	s.engine.ServeHTTP(g, r)
}

// connKey keys the session a request names in its context, for the transports.
type connKey struct{}

// connOf is the session a request names, as ServeHTTP found it; nil for a handshake.
func connOf(r *http.Request) *Conn {
	c, _ := r.Context().Value(connKey{}).(*Conn)
	return c
}

// lookup returns the open session with id sid, or nil.
func (s *Server) lookup(sid string) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[sid]
}

// handOverWait bounds how long a request waits for its session to be handed over.
const handOverWait = 2 * time.Second

// idGenerator makes Engine.IO session ids of 128 random bits (go-socket.io's default is a
// counter: anyone could name another client's session). It also counts the sessions the
// engine began and the server has not yet accepted, and keeps their ids: go-socket.io
// answers a handshake before it registers the session, from a goroutine of its own, so a
// client's next request can arrive first (see await).
type idGenerator struct {
	opening atomic.Int64
	mu      sync.Mutex
	issued  map[string]issuedID // handed out, not yet accepted
}

type issuedID struct {
	at    time.Time
	ready chan struct{} // closed when the session is accepted
}

// issuedTTL is how long an id handed out stays awaited: a session the engine never handed
// over (its handshake failed) is forgotten after it.
const issuedTTL = 10 * time.Second

func (g *idGenerator) NewID() string {
	var b [16]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := time.Now()
	g.mu.Lock()
	if g.issued == nil {
		g.issued = map[string]issuedID{}
	}
	if len(g.issued) >= 64 {
		for k, e := range g.issued {
			if now.Sub(e.at) > issuedTTL {
				delete(g.issued, k)
			}
		}
	}
	g.issued[id] = issuedID{at: now, ready: make(chan struct{})}
	g.mu.Unlock()
	g.opening.Add(1)
	return id
}

// accepted marks session id handed over to the server: the engine has registered it.
func (g *idGenerator) accepted(id string) {
	g.opening.Add(-1)
	g.mu.Lock()
	if e, ok := g.issued[id]; ok {
		close(e.ready)
		delete(g.issued, id)
	}
	g.mu.Unlock()
}

// await holds a request for session id, handed out and not yet accepted, until it is (at
// most max): otherwise the engine would refuse it as an invalid sid.
func (g *idGenerator) await(ctx context.Context, id string, max time.Duration) {
	g.mu.Lock()
	e, ok := g.issued[id]
	g.mu.Unlock()
	if !ok {
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-e.ready:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (g *idGenerator) pending() int64 { return g.opening.Load() }
