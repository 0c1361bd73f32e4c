package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dialin-bridge/dialin-bridge/internal/clip"
	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// Roster is what the room side needs of the presence core (cmd/dialin-bridge passes the core
// to Serve).
type Roster interface {
	// Parties returns one online event per phone party of the topic, in its current state.
	Parties(ctx context.Context, topicID string) ([]mapper.Event, error)
	// Remove hangs up a phone party of the topic. It returns mapper.ErrUnknownParty when
	// the topic has no such party.
	Remove(ctx context.Context, topicID, callSID string) error
	// Replay calls show to show one client ev, read by Parties, in order with the call's
	// other events shown here, unless a newer state of the call was shown meanwhile.
	Replay(ev mapper.Event, show func()) bool
	// Deliver calls show to show this instance's clients ev, an event of a phone party
	// another instance published, in order with the call's other events shown here, unless
	// a newer one was shown.
	Deliver(ev mapper.Event, show func()) bool
	// Resubscribed says that the fan-out (re)made its subscription and may have lost what
	// was published meanwhile. It must not block.
	Resubscribed()
}

// requestTimeout caps the work a room-side request may cause (a Twilio REST call included).
const requestTimeout = 15 * time.Second

// presenceRequest is a SEND_PRESENCE_EVENT payload.
type presenceRequest struct {
	Category         string          `json:"category"`
	TopicID          string          `json:"topicId"`
	Content          json.RawMessage `json:"content"`
	LoopbackMetadata json.RawMessage `json:"loopbackMetadata,omitempty"`
}

// userSender is the sender of an event a room client sent, stamped from its token.
type userSender struct {
	ID          string `json:"_id"`
	Type        string `json:"type"`
	DisplayName string `json:"displayname,omitempty"`
}

// relayed is a room client's event as the topic receives it.
type relayed struct {
	ID       string          `json:"_id"`
	Category string          `json:"category"`
	TopicID  string          `json:"topicId"`
	Sender   userSender      `json:"sender"`
	Content  json.RawMessage `json:"content"`
}

// invalid is the media.session.invalid answer to a refused request, to its sender alone.
type invalid struct {
	TopicID          string          `json:"topicId"`
	Sender           userSender      `json:"sender"`
	Category         string          `json:"category"`
	LoopbackMetadata json.RawMessage `json:"loopbackMetadata,omitempty"`
	Error            string          `json:"error"`
}

func senderOf(c *Claims) userSender {
	return userSender{ID: c.Subject, Type: "user", DisplayName: c.Name}
}

// refuse answers a request with media.session.invalid, to its sender only. It returns the
// answer's payload.
func (s *Server) refuse(sess *session, req presenceRequest, reason string) []byte {
	s.obs.Refused("presence")
	s.logRefused("presence request refused", "sub", sess.claims.Subject, "category", clip.String(req.Category, 60), "reason", reason)
	return s.emit(sess, EvPresenceResponse, invalid{
		TopicID:          req.TopicID,
		Sender:           senderOf(sess.claims),
		Category:         mapper.CategoryInvalid,
		LoopbackMetadata: req.LoopbackMetadata,
		Error:            reason,
	})
}

// decodePresence decodes a SEND_PRESENCE_EVENT payload. It keeps what it could read even
// when it fails, so that the refusal can echo the topic and loopbackMetadata.
func decodePresence(raw json.RawMessage) (presenceRequest, error) {
	var req presenceRequest
	if len(raw) == 0 {
		return req, errors.New("empty request")
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		var loose struct {
			TopicID          any             `json:"topicId"`
			LoopbackMetadata json.RawMessage `json:"loopbackMetadata"`
		}
		if json.Unmarshal(raw, &loose) == nil {
			req.TopicID, _ = loose.TopicID.(string)
			req.LoopbackMetadata = loose.LoopbackMetadata
		}
		return req, errors.New("malformed request: want {category, topicId, content}")
	}
	if req.Category == "" || req.TopicID == "" {
		return req, errors.New("malformed request: category and topicId are required")
	}
	if len(req.Content) == 0 || req.Content[0] != '{' {
		if req.Category == mapper.CategoryRequestParties && (len(req.Content) == 0 || string(req.Content) == "null") {
			req.Content = json.RawMessage("{}")
			return req, nil
		}
		return req, errors.New("malformed request: content must be an object")
	}
	return req, nil
}

// ok acknowledges a SEND_PRESENCE_EVENT that was accepted.
var ok = []byte(`{"ok":true}`)

// sendPresence answers SEND_PRESENCE_EVENT; it returns what acknowledges it: ok, or the
// media.session.invalid event its sender was sent. A request that waits on Twilio (a
// removal) is not answered here: sendPresence returns it as slow, to be run off the read
// loop, and slow's result acknowledges it; queued says it is a request for the parties, to
// be answered after the connection's earlier ones (see queueReplay).
func (s *Server) sendPresence(sess *session, raw json.RawMessage) (ack []byte, slow func(ctx context.Context) []byte, queued bool) {
	if len(raw) > maxPresence {
		return s.refuse(sess, echoOf(raw), fmt.Sprintf("request larger than %d bytes", maxPresence)), nil, false
	}
	req, err := decodePresence(raw)
	if err != nil {
		return s.refuse(sess, req, err.Error()), nil, false
	}
	if !sess.subscribed(req.TopicID) {
		return s.refuse(sess, req, "not subscribed to the topic"), nil, false
	}
	switch req.Category {
	case mapper.CategoryOnline, mapper.CategoryLeaves:
		s.announce(sess, req)
	case mapper.CategoryRequestParties:
		if s.roster != nil && !sess.canQueueReplay() {
			return s.refuse(sess, req, errTooManyReplays), nil, false
		}
		s.relay(sess, req.Category, req.TopicID, req.Content)
		if s.roster == nil {
			return ok, nil, false
		}
		return nil, func(ctx context.Context) []byte { return s.replay(ctx, sess, req) }, true
	case mapper.CategoryRemoved:
		ack, slow := s.removal(sess, req)
		return ack, slow, false
	default:
		return s.refuse(sess, req, "unknown category"), nil, false
	}
	return ok, nil, false
}

// announce relays a client's own online or leaves, remembering it for the leaves owed when
// the client drops.
func (s *Server) announce(sess *session, req presenceRequest) {
	sess.presence.Lock()
	defer sess.presence.Unlock()
	sess.mu.Lock()
	if sess.closed {
		// It dropped while this request was read: its leaves went out, or will.
		sess.mu.Unlock()
		return
	}
	if req.Category == mapper.CategoryOnline {
		sess.online[req.TopicID] = leftStateOf(req.Content, sess)
	} else {
		delete(sess.online, req.TopicID)
	}
	sess.mu.Unlock()
	s.relay(sess, req.Category, req.TopicID, req.Content)
}

// relay sends a room client's event to its topic, with the sender taken from its token.
func (s *Server) relay(sess *session, category, topicID string, content json.RawMessage) {
	s.webSeen(sess, category, topicID)
	s.broadcast(topicID, relayed{
		ID:       uuid.NewString(),
		Category: category,
		TopicID:  topicID,
		Sender:   senderOf(sess.claims),
		Content:  content,
	})
}

// replay answers a request for parties, to the requester alone, with one online event per
// phone party of the topic. It reads the store, so it runs off the client's read loop. Each
// party is shown through the core, in order with the call's other events: a party whose
// leaves (or any newer state) was shown since the store was read is skipped, so that the
// client does not end with the party's older state.
func (s *Server) replay(ctx context.Context, sess *session, req presenceRequest) []byte {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	events, err := s.roster.Parties(ctx, req.TopicID)
	if err != nil {
		s.log.Error("list phone parties", "topic", req.TopicID, "err", err)
		return s.refuse(sess, req, "the phone roster is not available")
	}
	for _, ev := range events {
		s.roster.Replay(ev, func() { s.emit(sess, EvPresenceResponse, ev) })
	}
	return ok
}

type removal struct {
	Attendee struct {
		AttendeeType string `json:"attendeeType"`
		Attendee     string `json:"attendee"`
	} `json:"attendee"`
}

// removal checks an admin's request to hang up a phone party; what is refused at once is
// answered at once, the hang-up itself, which waits on Twilio, is returned as slow.
func (s *Server) removal(sess *session, req presenceRequest) (ack []byte, slow func(ctx context.Context) []byte) {
	if sess.claims.Role != RoleAdmin {
		return s.refuse(sess, req, "only an admin may remove a party"), nil
	}
	var r removal
	if err := json.Unmarshal(req.Content, &r); err != nil || r.Attendee.Attendee == "" {
		return s.refuse(sess, req, "malformed request: want content.attendee.attendee"), nil
	}
	if s.roster == nil {
		return s.refuse(sess, req, "removal is not available"), nil
	}
	if !sess.waitOnTwilio() {
		return s.refuse(sess, req, errTooManyWaits), nil
	}
	return nil, func(ctx context.Context) []byte {
		defer sess.doneWithTwilio()
		return s.remove(ctx, sess, req, r.Attendee.Attendee)
	}
}

// remove hangs up a phone party at an admin's request. The leaves follows when Twilio
// reports the call's end.
func (s *Server) remove(ctx context.Context, sess *session, req presenceRequest, callSID string) []byte {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if sess.expired() {
		return s.refuse(sess, req, errTokenExpired) // checked when it acts, not only when asked
	}
	// A removal of a call whose removal is under way waits for that one's outcome instead
	// of asking Twilio again; only the one that asked relays party.removed.
	asked := false
	_, err, _ := s.removals.Do(req.TopicID+"\x00"+callSID, func() (any, error) {
		asked = true
		return nil, s.roster.Remove(ctx, req.TopicID, callSID)
	})
	if err != nil {
		reason, result := "could not hang up the call", "twilio_error"
		if errors.Is(err, mapper.ErrUnknownParty) {
			reason, result = mapper.ErrUnknownParty.Error(), "not_found"
		} else {
			s.log.Error("remove phone party", "topic", req.TopicID, "call_sid", clip.String(callSID, 40), "err", err)
		}
		s.audit(sess, req.TopicID, callSID, result)
		return s.refuse(sess, req, reason)
	}
	s.audit(sess, req.TopicID, callSID, "ok")
	if asked {
		s.relay(sess, mapper.CategoryRemoved, req.TopicID, req.Content)
	}
	return ok
}

// audit logs and counts an admin's removal as every moderation action is (contract §6).
func (s *Server) audit(sess *session, topicID, callSID, result string) {
	s.log.Info("moderation", "sub", sess.claims.Subject, "action", "remove", "topic", topicID,
		"call_sid", clip.String(callSID, 40), "result", result, "via", "socket")
	if m, ok := s.obs.(interface{ Moderation(action, result string) }); ok {
		m.Moderation("remove", result)
	}
}

// leaveOnDrop announces that a dropped client left every topic it had announced itself in.
func (s *Server) leaveOnDrop(sess *session) {
	sess.presence.Lock()
	defer sess.presence.Unlock()
	sess.mu.Lock()
	online := sess.online
	sess.online = map[string]leftState{}
	sess.mu.Unlock()
	for topicID, left := range online {
		s.relay(sess, mapper.CategoryLeaves, topicID, left.content())
	}
}

// broadcast sends a room client's event to every subscriber of a topic.
func (s *Server) broadcast(topicID string, payload any) {
	s.send(envelope{TopicID: topicID}, payload)
}

// send sends payload in env to every subscriber of env's topic on every instance, encoded
// once. env's call and version, when set, let receivers drop it if a newer event of the call
// came first.
func (s *Server) send(env envelope, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		s.log.Error("encode event", "err", err)
		return
	}
	env.Origin, env.Payload = s.instance, json.RawMessage(b)
	s.deliverHere(env)
	if s.fanout == nil {
		return
	}
	msg, err := json.Marshal(env)
	if err != nil {
		s.log.Error("encode fan-out message", "err", err)
		return
	}
	// The PUBLISH itself waits on Redis: it goes to the fan-out's own goroutine (see
	// sendLoop), so that neither the presence core nor a socket's read loop waits for it.
	select {
	case s.outgoing <- msg:
	default:
		// Clients of other instances miss this event until their instance catches up from
		// the store (see presence.Core.ReconcileOnce). The sender may hold a call's lock:
		// sendLoop logs the count.
		s.fanoutDropped.Add(1)
		s.obs.FanoutDropped("queue")
	}
}

// sendLoop sends what send queued to the other instances, in order, until Close; then it
// sends what is left within drainTimeout.
func (s *Server) sendLoop() {
	for {
		select {
		case <-s.drain:
			s.flush()
			return
		case msg := <-s.outgoing:
			s.publish(context.Background(), msg)
		}
	}
}

// flush sends what the queue holds, within drainTimeout; what is left then is dropped.
func (s *Server) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	for {
		select {
		case msg := <-s.outgoing:
			s.publish(ctx, msg)
		default:
			return
		}
	}
}

// publish sends one fan-out message, in at most fanoutTimeout.
func (s *Server) publish(ctx context.Context, msg []byte) {
	sctx, cancel := context.WithTimeout(ctx, fanoutTimeout)
	err := s.fanout.Send(sctx, msg)
	cancel()
	if err != nil {
		// Clients of other instances miss this event until their instance catches up from
		// the store.
		s.obs.FanoutDropped("error")
		s.log.Error("fan-out to other instances failed", "err", err)
	}
	if n := s.fanoutDropped.Swap(0); n > 0 {
		s.log.Error("fan-out to other instances was too far behind; events dropped", "events", n)
	}
}

// receive delivers an event another instance sent through the fan-out. A phone party's
// event is shown through the presence core, which drops it if this instance's clients were
// shown a newer state of the call.
func (s *Server) receive(msg []byte) {
	var env envelope
	if err := json.Unmarshal(msg, &env); err != nil || (env.TopicID == "" && env.Lobby == "") {
		s.log.Warn("dropping malformed fan-out message")
		return
	}
	if env.Origin == s.instance {
		return // delivered when it was sent
	}
	if env.CallSID == "" || s.roster == nil {
		s.deliverHere(env)
		return
	}
	var ev mapper.Event
	if err := json.Unmarshal(env.Payload, &ev); err != nil || ev.Sender.ID != env.CallSID {
		s.log.Warn("dropping malformed fan-out message")
		return
	}
	ev.Version = env.Version
	if !s.roster.Deliver(ev, func() { s.deliverLocal(env.TopicID, env.Payload) }) {
		s.log.Debug("dropping stale event", "call_sid", env.CallSID, "version", env.Version)
	}
}

// resubscribed is told by the fan-out each time its subscription is (re)made.
func (s *Server) resubscribed() {
	if s.roster != nil {
		s.roster.Resubscribed()
	}
}

// deliverLocal sends an event to this instance's subscribers of topicID.
func (s *Server) deliverLocal(topicID string, payload json.RawMessage) {
	p := eventPacket(EvPresenceResponse, payload)
	for _, sess := range s.subscribers(topicID) {
		sess.conn.Send(p)
	}
}
