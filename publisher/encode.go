package publisher

import (
	"encoding/json"

	"github.com/dialin-bridge/dialin-bridge/publisher/sio"
)

// eventPacket frames a socket.io EVENT packet of the room namespace, once for every client
// it goes to.
func eventPacket(event string, payload []byte) []byte {
	return sio.EventPacket(Namespace, event, payload)
}

// emit sends one event to one session, in order with its others. It returns the event's
// payload, which also answers the request's acknowledgement.
func (s *Server) emit(sess *session, event string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode event", "event", event, "err", err)
		return nil
	}
	sess.conn.Send(eventPacket(event, b))
	return b
}
