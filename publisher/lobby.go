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
