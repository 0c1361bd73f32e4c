// Package publisher owns the room side: the socket.io server room clients connect to, their
// tokens, channel subscriptions, the broadcast of presence events to a topic's subscribers,
// and the requests room clients send.
package publisher

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/publisher/sio"
)

// Namespace is the socket.io namespace room clients use.
const Namespace = "/chat"

// Socket events of the channel protocol.
const (
	EvSubscribe        = "SUBSCRIBE_CHANNEL"
	EvSubscribed       = "CHANNEL_SUBSCRIBED"
	EvSubscribeFailed  = "SUBSCRIBE_CHANNEL_FAILED"
	EvUnsubscribe      = "UNSUBSCRIBE_CHANNEL"
	EvUnsubscribed     = "CHANNEL_UNSUBSCRIBED"
	EvSendPresence     = "SEND_PRESENCE_EVENT"
	EvPresenceResponse = "PRESENCE_EVENT_RESPONSE"
)

// ChannelTopic is the channel type of a topic.
const ChannelTopic = "topic"

// Limits of the room protocol (contract §3).
const (
	maxTopicID       = 128
	maxSubscriptions = 256
	maxPresence      = 16 << 10 // a SEND_PRESENCE_EVENT payload
)

// The fan-out's queue of events for the other instances, and how long one PUBLISH may take.
// At Close the fan-out sends what it holds within drainTimeout.
const (
	fanoutQueue   = 4096
	fanoutTimeout = 2 * time.Second
	drainTimeout  = time.Second
)

// Observer is told of connections and subscriptions, of what was refused, and of events the
// fan-out dropped, for metrics.
type Observer interface {
	Sessions(delta int)
	Connected(delta int)
	Subscribed(delta int)
	Refused(reason string)
	// FanoutDropped counts an event that did not reach the other instances: reason "queue"
	// (the fan-out was too far behind) or "error" (the PUBLISH failed).
	FanoutDropped(reason string)
}

type nopObserver struct{}

func (nopObserver) Sessions(int)         {}
func (nopObserver) Connected(int)        {}
func (nopObserver) Subscribed(int)       {}
func (nopObserver) Refused(string)       {}
func (nopObserver) FanoutDropped(string) {}

// Options configure the server.
type Options struct {
	Auth     *Auth
	Observer Observer
	// Fanout, when set, carries events to every instance (several bridges on one Redis).
	Fanout Fanout
	// WebParties, when set, is told of the web parties online through this server, for the
	// roll call phone callers hear.
	WebParties WebParties
	// Socket configures the socket.io server; its Namespace, Handler, Observer and Log are
	// this server's.
	Socket sio.Options
}

// Server is the room side: the channel protocol over the socket.io server.
type Server struct {
	io            *sio.Server
	auth          *Auth
	roster        Roster // the presence core, from Serve
	web           WebParties
	fanout        Fanout
	instance      string          // this process, in fan-out messages
	outgoing      chan []byte     // fan-out messages waiting for sendLoop
	fanoutDropped atomic.Int64    // fan-out messages dropped since sendLoop last said so
	ctx           context.Context // ends at Close
	stop          context.CancelFunc
	drain         chan struct{}  // closed by Close: sendLoop sends what is queued and returns
	sending       sync.WaitGroup // sendLoop
	closing       sync.Once
	loops         sync.WaitGroup     // Serve's other loops
	requests      sync.WaitGroup     // room requests answered off the read loop (see later)
	removals      singleflight.Group // hang-ups under way, by topic and call
	log           *slog.Logger
	refusedLines  lineLimit // see logRefused
	obs           Observer

	mu      sync.Mutex
	byTopic topicIndex // subscribers by topic
	closed  bool       // Close began: no more requests run later
}

// client is what the room protocol needs of a socket.io connection (a *sio.Conn).
type client interface {
	ID() string
	// Send queues a packet framed by eventPacket; the connection closes when its client is
	// too far behind.
	Send(p []byte) bool
	// Expel ends the connection to /chat, telling the client why; the server hears its
	// disconnect. It reports false when the client is not connected to /chat (yet).
	Expel(reason string) bool
}

// session is one room client's connection to /chat.
type session struct {
	conn   client
	claims *Claims
	expiry *time.Timer // expels the client when its token expires; nil: it never does

	// presence orders this client's own online and leaves: the ones it sends and the leaves
	// sent for it when it drops, so that a leaves is never overtaken by its online.
	presence sync.Mutex

	mu     sync.Mutex
	closed bool // disconnected: it subscribes to nothing and announces nothing more
	twilio int  // its requests waiting on Twilio
	// replays are its request.parties waiting for their answer, in order; replaying: a
	// goroutine answers them (see queueReplay).
	replays   []func(context.Context)
	replaying bool
	topics    topicSet
	online    map[string]leftState // topics it announced itself online in: what its leaves says
}

func (s *session) subscribed(topicID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics.has(keyOf(topicID))
}

// New returns a server; call Serve before mounting it and Close when done.
func New(opts Options, log *slog.Logger) *Server {
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	s := &Server{
		auth:     opts.Auth,
		web:      opts.WebParties,
		fanout:   opts.Fanout,
		drain:    make(chan struct{}),
		instance: uuid.NewString(),
		log:      log,
		obs:      opts.Observer,
		byTopic:  newTopicIndex(),
		outgoing: make(chan []byte, fanoutQueue),
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	so := opts.Socket
	so.Namespace, so.Handler, so.Observer, so.Log = Namespace, handler{s}, opts.Observer, log
	s.io = sio.New(so)
	return s
}

// Serve runs the server's loops in the background, answering the room side's requests
// through the presence core (nil: no phone roster).
func (s *Server) Serve(core Roster) {
	s.roster = core
	ctx := s.ctx
	s.io.Start()
	if s.fanout == nil {
		return
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		s.fanout.Run(ctx, s.receive, s.resubscribed)
	}()
	s.sending.Add(1)
	go func() {
		defer s.sending.Done()
		s.sendLoop()
	}()
}

// Close closes every room client's connection, cancels the requests still waiting (on
// Twilio), sends the other instances what the fan-out still holds (within drainTimeout),
// and stops the server's loops, waiting for all of them. Events published before Close
// thus reach the other instances' clients. Close may be called more than once.
func (s *Server) Close() error {
	s.closing.Do(func() {
		s.io.Close()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.drain)
		s.sending.Wait()
		s.stop()
		s.requests.Wait()
		s.loops.Wait()
	})
	return nil
}

// Ready reports whether events reach every instance: with a fan-out, that its subscription
// is live.
func (s *Server) Ready(ctx context.Context) error {
	if s.fanout == nil {
		return nil
	}
	return s.fanout.Check(ctx)
}

// Handler serves socket.io under /socket.io/.
func (s *Server) Handler() http.Handler { return s.io }

// handler is the server as the socket.io server's handler of /chat.
type handler struct{ s *Server }

func (h handler) Connect(c *sio.Conn, query url.Values) (any, error) {
	sess, err := h.s.connect(c, query.Get("token"))
	if err != nil {
		h.s.logRefused("socket refused", "reason", err.Error(), "remote", c.RemoteAddr())
		return nil, err
	}
	return sess, nil
}

func (h handler) Disconnect(c *sio.Conn) {
	if sess := sessionOf(c); sess != nil {
		h.s.disconnect(sess)
	}
}

func (h handler) Event(c *sio.Conn, name string, arg json.RawMessage, reply func([]byte)) {
	sess := sessionOf(c)
	if sess == nil {
		reply(nil)
		return
	}
	h.s.event(sess, name, arg, reply)
}

// connect opens a session for a client whose token is valid.
func (s *Server) connect(c client, token string) (*session, error) {
	claims, err := s.auth.Verify(token)
	if err != nil {
		s.obs.Refused("token")
		return nil, err
	}
	if claims == nil {
		claims = Anonymous("dev-" + c.ID())
	}
	s.obs.Connected(1)
	s.log.Debug("socket connected", "sub", claims.Subject)
	sess := &session{conn: c, claims: claims, online: make(map[string]leftState)}
	if claims.ExpiresAt != nil {
		sess.mu.Lock() // the timer may fire before connect returns
		sess.expiry = time.AfterFunc(time.Until(claims.ExpiresAt.Time), func() { s.expire(sess) })
		sess.mu.Unlock()
	}
	return sess, nil
}

// errTokenExpired is why a client is expelled, and a privileged action refused, at its
// token's exp.
const errTokenExpired = "token expired"

// expired reports whether the session's token has expired.
func (sess *session) expired() bool {
	exp := sess.claims.ExpiresAt
	return exp != nil && !time.Now().Before(exp.Time)
}

// expire expels a client whose token has expired: it gets 44/chat,"token expired" and
// 41/chat, and nothing more of /chat until it connects again with a valid token. The
// connection's disconnect (heard from Expel) leaves its topics and announces its leaves.
func (s *Server) expire(sess *session) {
	sess.mu.Lock()
	closed := sess.closed
	sess.mu.Unlock()
	if closed {
		return
	}
	if !sess.conn.Expel(errTokenExpired) {
		// Expired between the token's check and the CONNECT's acknowledgement: try again
		// once the connection is made (or its disconnect stops the timer).
		sess.mu.Lock()
		if !sess.closed {
			sess.expiry.Reset(10 * time.Millisecond)
		}
		sess.mu.Unlock()
		return
	}
	s.obs.Refused("token_expired")
	s.log.Info("socket token expired", "sub", sess.claims.Subject)
}

// disconnect ends a session: it leaves its topics, announcing its leaves where it was online.
func (s *Server) disconnect(sess *session) {
	sess.mu.Lock()
	if sess.closed {
		sess.mu.Unlock()
		return
	}
	sess.closed = true
	if sess.expiry != nil {
		sess.expiry.Stop()
	}
	topics := sess.topics
	sess.topics = nil
	sess.mu.Unlock()
	for _, k := range topics {
		s.index(k, sess, false)
	}
	s.obs.Subscribed(-len(topics))
	s.obs.Connected(-1)
	s.leaveOnDrop(sess)
}

// event answers a client's event, calling reply with the payload that acknowledges it. It
// runs on the client's read loop: a request that waits on the store or Twilio is answered
// from a goroutine of the server's (see later).
func (s *Server) event(sess *session, name string, arg json.RawMessage, reply func([]byte)) {
	if sess.expired() {
		// Its timer has not fired yet: nothing more is done for it.
		s.expire(sess)
		reply(nil) // sent to nobody: the client is no longer connected to /chat
		return
	}
	switch name {
	case EvSubscribe:
		reply(s.subscribe(sess, arg))
	case EvUnsubscribe:
		reply(s.unsubscribe(sess, arg))
	case EvSendPresence:
		ack, slow, queued := s.sendPresence(sess, arg)
		switch {
		case slow == nil:
			reply(ack)
		case queued:
			s.queueReplay(sess, func(ctx context.Context) { reply(slow(ctx)) })
		default:
			s.later(func(ctx context.Context) { reply(slow(ctx)) })
		}
	default:
		reply(nil)
	}
}

// later runs fn on a goroutine of the server's, with a context that ends when the server
// closes; Close waits for it. After Close it runs nothing.
func (s *Server) later(fn func(ctx context.Context)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.requests.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.requests.Done()
		fn(s.ctx)
	}()
}

func sessionOf(c *sio.Conn) *session {
	sess, _ := c.State().(*session)
	return sess
}

// Publish sends ev to every subscriber of its topic, on this instance and through the
// fan-out on the others, encoded once for all of them. It implements presence.Sink: it
// never waits, as each client has its own queue, and so has the fan-out.
func (s *Server) Publish(ev mapper.Event) {
	s.send(envelope{TopicID: ev.TopicID, CallSID: ev.Sender.ID, Version: ev.Version, Online: ev.Category == mapper.CategoryOnline}, ev)
}

// ShowLocal sends ev to this instance's subscribers of its topic alone, not through the
// fan-out. It implements presence.Local: the core's retractions and catch-up, which each
// instance does for its own clients.
func (s *Server) ShowLocal(ev mapper.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("encode event", "err", err)
		return
	}
	s.deliverLocal(ev.TopicID, b)
}
