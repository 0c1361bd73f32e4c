package publisher

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// channel is the channel object of the channel protocol.
type channel struct {
	ID   string `json:"_id"`
	Type string `json:"type"`
}

type channelRequest struct {
	Channel json.RawMessage `json:"channel"`
}

var (
	errMalformedChannel = errors.New("malformed channel: want {channel:{_id, type:\"topic\"}}")
	errTopicTooLong     = fmt.Errorf("topic id longer than %d characters", maxTopicID)
	errTooManyTopics    = fmt.Errorf("a connection holds at most %d subscriptions", maxSubscriptions)
	errNotGranted       = errors.New("the token does not grant this topic")
)

// decodeChannel decodes a channel request. It also returns the channel as the client sent
// it (nil when there was none), which a refusal echoes so that the client can match it.
func decodeChannel(raw json.RawMessage) (channel, json.RawMessage, error) {
	var (
		req channelRequest
		ch  *channel
	)
	if err := json.Unmarshal(raw, &req); err != nil || json.Unmarshal(req.Channel, &ch) != nil || ch == nil || ch.ID == "" {
		return channel{}, req.Channel, errMalformedChannel
	}
	if len(ch.ID) > maxTopicID {
		return *ch, req.Channel, errTopicTooLong
	}
	if ch.Type == "" {
		ch.Type = ChannelTopic
	}
	if ch.Type != ChannelTopic {
		return *ch, req.Channel, errors.New("unsupported channel type: want \"topic\"")
	}
	return *ch, req.Channel, nil
}

type channelReply struct {
	Channel channel `json:"channel"`
	Error   string  `json:"error,omitempty"`
}

// failedReply is SUBSCRIBE_CHANNEL_FAILED: the channel exactly as the client sent it.
type failedReply struct {
	Channel json.RawMessage `json:"channel"`
	Error   string          `json:"error"`
}

// channelFailed answers a refused channel request with SUBSCRIBE_CHANNEL_FAILED, echoing the
// channel exactly as it was sent (an empty one when none was); it returns the payload.
func (s *Server) channelFailed(sess *session, sent json.RawMessage, err error) []byte {
	if len(sent) == 0 {
		return s.emit(sess, EvSubscribeFailed, channelReply{Error: err.Error()})
	}
	return s.emit(sess, EvSubscribeFailed, failedReply{Channel: sent, Error: err.Error()})
}

// subscribe answers SUBSCRIBE_CHANNEL; it returns the answer's payload.
func (s *Server) subscribe(sess *session, raw json.RawMessage) []byte {
	ch, sent, err := decodeChannel(raw)
	if err == nil && !sess.claims.Grants(ch.ID) {
		err = errNotGranted
	}
	// Indexed under the session's lock, so that a disconnect, which may run on another
	// goroutine, either sees the subscription and removes it or comes first and prevents it.
	fresh := false
	if err == nil {
		sess.mu.Lock()
		switch {
		case sess.closed:
		case !sess.topics.has(keyOf(ch.ID)) && len(sess.topics) >= maxSubscriptions:
			err = errTooManyTopics
		default:
			fresh = sess.topics.add(keyOf(ch.ID))
			s.index(keyOf(ch.ID), sess, true)
		}
		sess.mu.Unlock()
	}
	if err != nil {
		s.obs.Refused("subscribe")
		s.logRefused("subscribe refused", "sub", sess.claims.Subject, "reason", err.Error())
		return s.channelFailed(sess, sent, err)
	}
	if fresh {
		s.obs.Subscribed(1)
	}
	return s.emit(sess, EvSubscribed, channelReply{Channel: ch})
}

// unsubscribe answers UNSUBSCRIBE_CHANNEL, announcing the client's leaves in the topic if it
// had announced itself online there; it returns the answer's payload.
func (s *Server) unsubscribe(sess *session, raw json.RawMessage) []byte {
	ch, sent, err := decodeChannel(raw)
	if err != nil {
		return s.channelFailed(sess, sent, err)
	}
	sess.presence.Lock()
	sess.mu.Lock()
	was := sess.topics.remove(keyOf(ch.ID))
	left, announced := sess.online[ch.ID]
	delete(sess.online, ch.ID)
	sess.mu.Unlock()
	s.index(keyOf(ch.ID), sess, false)
	if announced {
		s.relay(sess, mapper.CategoryLeaves, ch.ID, left.content())
	}
	sess.presence.Unlock()
	if was {
		s.obs.Subscribed(-1)
	}
	return s.emit(sess, EvUnsubscribed, channelReply{Channel: ch})
}

// subscribers returns the sessions subscribed to a topic.
func (s *Server) subscribers(topicID string) []*session {
	k := keyOf(topicID)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byTopic.appendTo(make([]*session, 0, s.byTopic.count(k)), k)
}

// index adds or removes a session from a topic's subscribers.
func (s *Server) index(k topicKey, sess *session, subscribed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if subscribed {
		s.byTopic.add(k, sess)
	} else {
		s.byTopic.remove(k, sess)
	}
}
