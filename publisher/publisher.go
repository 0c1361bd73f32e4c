// Package publisher owns the room side: the socket.io server room clients connect to, their
// tokens, channel subscriptions, the broadcast of presence events to a topic's subscribers,
// and the requests room clients send.
package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	socketio "github.com/googollee/go-socket.io"
	"github.com/googollee/go-socket.io/engineio"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/googollee/go-socket.io/engineio/transport/polling"

	"github.com/dialin-bridge/dialin-bridge/mapper"
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

// Observer is told of connections and subscriptions, for metrics.
type Observer interface {
	Connected(delta int)
	Subscribed(delta int)
	Refused(reason string)
}

type nopObserver struct{}

func (nopObserver) Connected(int)  {}
func (nopObserver) Subscribed(int) {}
func (nopObserver) Refused(string) {}

// Options configure the server.
type Options struct {
	Auth     *Auth
	Roster   Roster
	Observer Observer
	// Fanout, when set, carries events to every instance (several bridges on one Redis).
	Fanout Fanout
}

// Server is the socket.io server of the room side.
type Server struct {
	io       *socketio.Server
	auth     *Auth
	roster   Roster
	fanout   Fanout
	instance string // this process, in fan-out messages
	seen     versions
	stop     context.CancelFunc
	log      *slog.Logger
	obs      Observer

	mu       sync.Mutex
	sessions map[string]*session              // by socket.io connection id
	byTopic  map[string]map[*session]struct{} // subscribers by topic id
	closed   atomic.Bool
}

// session is one room client's connection.
type session struct {
	conn   socketio.Conn
	claims *Claims

	out *outbox // what it is sent, in order

	// presence orders this client's own online and leaves: the ones it sends and the leaves
	// sent for it when it drops, so that a leaves is never overtaken by its online.
	presence sync.Mutex

	mu     sync.Mutex
	closed bool // disconnected: it subscribes to nothing and announces nothing more
	topics map[string]bool
	online map[string]json.RawMessage // topics it announced itself online in: its last content
}

func (s *session) subscribed(topicID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics[topicID]
}

// New returns a server; call Serve before mounting it and Close when done.
func New(opts Options, log *slog.Logger) *Server {
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	s := &Server{
		io: socketio.NewServer(&engineio.Options{
			Transports: []transport.Transport{polling.Default, wsTransport{}},
			// Clients ping every PingInterval. go-socket.io drops a connection that reads
			// nothing for PingTimeout (not interval plus timeout), so the timeout must be the
			// longer: a client that vanishes without closing (a killed tab, a lost network)
			// is noticed within 15 s, and the topic hears it left.
			PingInterval: 10 * time.Second,
			PingTimeout:  15 * time.Second,
		}),
		auth:     opts.Auth,
		roster:   opts.Roster,
		fanout:   opts.Fanout,
		instance: uuid.NewString(),
		log:      log,
		obs:      opts.Observer,
		sessions: make(map[string]*session),
		byTopic:  make(map[string]map[*session]struct{}),
	}
	// socket.io-client 2.x connects to the root namespace first; without a handler there it
	// cannot reach /chat at all.
	s.io.OnConnect("/", func(socketio.Conn) error { return nil })
	s.io.OnConnect(Namespace, s.onConnect)
	s.io.OnDisconnect(Namespace, s.onDisconnect)
	s.io.OnError(Namespace, func(c socketio.Conn, err error) {
		s.log.Debug("socket error", "err", err)
	})
	s.io.OnEvent(Namespace, EvSubscribe, s.onSubscribe)
	s.io.OnEvent(Namespace, EvUnsubscribe, s.onUnsubscribe)
	s.io.OnEvent(Namespace, EvSendPresence, s.onSendPresence)
	return s
}

// Serve runs the server's loops in the background.
func (s *Server) Serve() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if s.fanout != nil {
		go s.fanout.Run(ctx, s.receive)
	}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.seen.forget(now.Add(-2 * time.Hour))
			}
		}
	}()
	go func() {
		if err := s.io.Serve(); err != nil && !s.closed.Load() {
			s.log.Error("socket.io server stopped", "err", err)
		}
	}()
}

// Close closes every room client's connection.
//
// It closes each room client's connection rather than go-socket.io's engine, whose Close
// races with sessions being created (it closes a channel their goroutines send on).
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.stop != nil {
		s.stop()
	}
	s.mu.Lock()
	conns := make([]socketio.Conn, 0, len(s.sessions))
	for _, sess := range s.sessions {
		conns = append(conns, sess.conn)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
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
func (s *Server) Handler() http.Handler { return pollingFixes(s.io) }

func (s *Server) onConnect(c socketio.Conn) error {
	u := c.URL()
	claims, err := s.auth.Verify(u.Query().Get("token"))
	if err != nil {
		s.obs.Refused("token")
		s.log.Info("socket refused", "reason", err.Error(), "remote", c.RemoteAddr().String())
		return err
	}
	if sessionOf(c) != nil {
		// A repeated CONNECT on the same connection: go-socket.io calls this again for the
		// namespace connection it already has. The client keeps the session it has.
		return nil
	}
	if claims == nil {
		claims = Anonymous("dev-" + c.ID())
	}
	cc, ok := c.(clientConn)
	if !ok {
		return errors.New("socket.io connection without a frame writer")
	}
	sess := &session{conn: c, claims: claims, out: newOutbox(cc), topics: make(map[string]bool), online: make(map[string]json.RawMessage)}
	c.SetContext(sess)
	s.mu.Lock()
	s.sessions[c.ID()] = sess
	s.mu.Unlock()
	s.obs.Connected(1)
	s.log.Debug("socket connected", "sub", claims.Subject)
	return nil
}

func (s *Server) onDisconnect(c socketio.Conn, reason string) {
	s.mu.Lock()
	sess, ok := s.sessions[c.ID()]
	delete(s.sessions, c.ID())
	s.mu.Unlock()
	if !ok {
		return
	}
	sess.mu.Lock()
	sess.closed = true
	topics := sess.topics
	sess.topics = map[string]bool{}
	sess.mu.Unlock()
	sess.out.close()
	n := len(topics)
	for topicID := range topics {
		s.index(topicID, sess, false)
	}
	s.obs.Subscribed(-n)
	s.obs.Connected(-1)
	s.leaveOnDrop(sess)
}

func sessionOf(c socketio.Conn) *session {
	sess, _ := c.Context().(*session)
	return sess
}

// channel is the channel object of the channel protocol.
type channel struct {
	ID   string `json:"_id"`
	Type string `json:"type"`
}

type channelRequest struct {
	Channel *channel `json:"channel"`
}

var errMalformedChannel = errors.New("malformed channel: want {channel:{_id, type:\"topic\"}}")

func decodeChannel(raw json.RawMessage) (channel, error) {
	var req channelRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.Channel == nil || req.Channel.ID == "" {
		return channel{}, errMalformedChannel
	}
	if req.Channel.Type == "" {
		req.Channel.Type = ChannelTopic
	}
	if req.Channel.Type != ChannelTopic {
		return *req.Channel, errors.New("unsupported channel type: want \"topic\"")
	}
	return *req.Channel, nil
}

type channelReply struct {
	Channel channel `json:"channel"`
	Error   string  `json:"error,omitempty"`
}

func (s *Server) onSubscribe(c socketio.Conn, raw json.RawMessage) {
	sess := sessionOf(c)
	if sess == nil {
		return
	}
	ch, err := decodeChannel(raw)
	if err == nil && !sess.claims.Grants(ch.ID) {
		err = errors.New("the token does not grant this topic")
	}
	if err != nil {
		s.obs.Refused("subscribe")
		s.log.Info("subscribe refused", "sub", sess.claims.Subject, "reason", err.Error())
		s.emit(sess, EvSubscribeFailed, channelReply{Channel: ch, Error: err.Error()})
		return
	}
	// Indexed under the session's lock, so that a disconnect, which may run on another
	// goroutine, either sees the subscription and removes it or comes first and prevents it.
	sess.mu.Lock()
	if sess.closed {
		sess.mu.Unlock()
		return
	}
	fresh := !sess.topics[ch.ID]
	sess.topics[ch.ID] = true
	s.index(ch.ID, sess, true)
	sess.mu.Unlock()
	if fresh {
		s.obs.Subscribed(1)
	}
	s.emit(sess, EvSubscribed, channelReply{Channel: ch})
}

func (s *Server) onUnsubscribe(c socketio.Conn, raw json.RawMessage) {
	sess := sessionOf(c)
	if sess == nil {
		return
	}
	ch, err := decodeChannel(raw)
	if err != nil {
		s.emit(sess, EvSubscribeFailed, channelReply{Channel: ch, Error: err.Error()})
		return
	}
	sess.presence.Lock()
	sess.mu.Lock()
	was := sess.topics[ch.ID]
	delete(sess.topics, ch.ID)
	last, announced := sess.online[ch.ID]
	delete(sess.online, ch.ID)
	sess.mu.Unlock()
	s.index(ch.ID, sess, false)
	if announced {
		s.relay(sess, mapper.CategoryLeaves, ch.ID, leftContent(last, sess))
	}
	sess.presence.Unlock()
	if was {
		s.obs.Subscribed(-1)
	}
	s.emit(sess, EvUnsubscribed, channelReply{Channel: ch})
}

// Publish sends ev to every subscriber of its topic, encoded once for all of them.
func (s *Server) Publish(ev mapper.Event) {
	s.send(envelope{TopicID: ev.TopicID, CallSID: ev.Sender.ID, Version: ev.Version, Online: ev.Category == mapper.CategoryOnline}, ev)
}
