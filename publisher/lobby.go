package publisher

import (
	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// Lobby shows a lobby change (LOBBY_EVENT) to the subscribers of its topic whose token is
// admin, on every instance, and to nobody else. It implements presence.LobbySink.
//
// Through the fan-out it travels with the topic in its own field and none in the one
// presence events use, so that an instance that does not know lobby events (an older
// version, in a rolling upgrade) drops it as malformed rather than show it to every
// subscriber.
func (s *Server) Lobby(ev mapper.LobbyEvent) {
	s.send(envelope{Lobby: ev.TopicID}, ev)
}

// deliverLobby sends a lobby event to this instance's admin subscribers of its topic.
func (s *Server) deliverLobby(env envelope) {
	p := eventPacket(mapper.LobbyEventName, env.Payload)
	for _, sess := range s.subscribers(env.Lobby) {
		if sess.claims != nil && sess.claims.Role == RoleAdmin {
			sess.conn.Send(p)
		}
	}
}

// lobbyEnvelope reports whether a fan-out message is a lobby event.
func lobbyEnvelope(env envelope) bool { return env.Lobby != "" && env.TopicID == "" }

// WebParties is told of the web parties that announce themselves online in a topic, and of
// their leaves, by connection. Its methods must not block.
type WebParties interface {
	Online(topicID, key, id, name string)
	Left(topicID, key string)
}

// webSeen tells the web parties' tracker of a client's own online or leaves (the one sent
// for it when it drops included), as they are relayed; other categories are not its.
func (s *Server) webSeen(sess *session, category, topicID string) {
	if s.web == nil {
		return
	}
	key := "s:" + sess.conn.ID()
	switch category {
	case mapper.CategoryOnline:
		s.web.Online(topicID, key, sess.claims.Subject, sess.claims.Name)
	case mapper.CategoryLeaves:
		s.web.Left(topicID, key)
	}
}

// deliverHere sends an event to this instance's own clients: a lobby event to the topic's
// admins, any other to every subscriber of its topic.
func (s *Server) deliverHere(env envelope) {
	if lobbyEnvelope(env) {
		s.deliverLobby(env)
		return
	}
	s.deliverLocal(env.TopicID, env.Payload)
}
