package publisher

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// TestBroadcastOverWebsocketInOrder sends bursts of events to one websocket client, whose
// writer gathers them, and checks that every event arrives whole and in order.
func TestBroadcastOverWebsocketInOrder(t *testing.T) {
	s, srv := newTestServer(t)
	conn := rawClient(t, srv.URL)
	joinChat(t, conn)
	subscribeRaw(t, conn, "t1")

	const n = 300
	go func() {
		for i := range n {
			s.Publish(mapper.Online(mapper.Party{CallSID: fmt.Sprintf("CA%032d", i), TopicID: "t1", DisplayName: "Zoë"}, "id"))
		}
	}()
	for i := range n {
		_, raw, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		msg := string(raw)
		want := fmt.Sprintf(`"sessionId":"CA%032d"`, i)
		if !strings.HasPrefix(msg, `42/chat,["PRESENCE_EVENT_RESPONSE",{`) || !strings.HasSuffix(msg, "}]") || !strings.Contains(msg, want) {
			t.Fatalf("message %d = %s; want a whole PRESENCE_EVENT_RESPONSE with %s", i, msg, want)
		}
		if !strings.Contains(msg, `Zo\u00eb`) {
			t.Fatalf("message %d = %s: not ASCII-escaped", i, msg)
		}
	}
}
