package publisher

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

const replayTopic = "5a1339868509b80641a56655"

// gatedCore is the presence core whose Parties, once it has read the store, waits until
// the test lets it go on.
type gatedCore struct {
	*presence.Core
	read    chan struct{} // closed once Parties has read the store
	release chan struct{}
}

func (g *gatedCore) Parties(ctx context.Context, topicID string) ([]mapper.Event, error) {
	evs, err := g.Core.Parties(ctx, topicID)
	close(g.read)
	<-g.release
	return evs, err
}

// replayWorld is a room side on the real presence core (memory store) with one party
// online in replayTopic, and a raw client subscribed to the topic.
func replayWorld(t *testing.T) (*presence.Core, *gatedCore, *websocket.Conn) {
	t.Helper()
	auth, _ := NewAuth(nil, nil, true)
	s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rs, err := rooms.Parse([]byte(`{"topics":[{"topicId":"` + replayTopic + `","pin":"482913"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	core := presence.New(presence.Options{Roster: roster.New(roster.NewMemory()),
		Rooms: func() *rooms.Rooms { return rs }, Sinks: []presence.Sink{s}, Local: s})
	g := &gatedCore{Core: core, read: make(chan struct{}), release: make(chan struct{})}
	s.Serve(g)
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	ctx := context.Background()
	f := false
	if err := core.Admit(ctx, "CA1", replayTopic, roster.Identity{DisplayName: "Ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Participant(ctx, "CA1", roster.Participant{ConferenceSID: "CF1", TopicID: replayTopic, Seq: 1, Muted: &f, OnHold: &f}); err != nil {
		t.Fatal(err)
	}
	conn := rawClient(t, srv.URL)
	joinChat(t, conn)
	subscribeRaw(t, conn, replayTopic)
	return core, g, conn
}

const requestParties = `42/chat,["SEND_PRESENCE_EVENT",{"category":"app.event.presence.request.parties","topicId":"` + replayTopic + `","content":{}}]`

// presenceOf reads the client's presence events until it has been quiet for quiet, and
// returns the categories of those of call sid, in order.
func presenceOf(t *testing.T, conn *websocket.Conn, sid string, quiet time.Duration) []string {
	t.Helper()
	var got []string
	for {
		conn.SetReadDeadline(time.Now().Add(quiet))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return got
		}
		body, isEvent := strings.CutPrefix(string(msg), "42/chat,")
		if !isEvent {
			continue
		}
		var frame []json.RawMessage
		if json.Unmarshal([]byte(body), &frame) != nil || len(frame) != 2 || string(frame[0]) != `"`+EvPresenceResponse+`"` {
			continue
		}
		var ev mapper.Event
		if json.Unmarshal(frame[1], &ev) == nil && ev.Sender.ID == sid {
			got = append(got, ev.Category)
		}
	}
}

// TestReplayNeverOvertakesLeaves: a client asks for the parties; the store is read with the
// party online, and its leaves is published before the answer goes out. The client's last
// event of the party is the leaves: it does not keep a party that left (issue 19, finding 1).
func TestReplayNeverOvertakesLeaves(t *testing.T) {
	core, g, conn := replayWorld(t)
	conn.WriteMessage(websocket.TextMessage, []byte(requestParties))
	<-g.read
	if _, err := core.Participant(context.Background(), "CA1", roster.Participant{ConferenceSID: "CF1", TopicID: replayTopic, Seq: 2, Leave: true}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	got := presenceOf(t, conn, "CA1", 500*time.Millisecond)
	if len(got) == 0 || got[len(got)-1] != mapper.CategoryLeaves {
		t.Fatalf("the client got %v for the party; want its leaves last", got)
	}
}

// TestRequestPartiesOffReadLoop: while the store is slow to answer a client's request for
// the parties, the same client's next request is answered (issue 19, finding 6).
func TestRequestPartiesOffReadLoop(t *testing.T) {
	_, g, conn := replayWorld(t)
	conn.WriteMessage(websocket.TextMessage, []byte(requestParties))
	<-g.read
	defer close(g.release)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	conn.WriteMessage(websocket.TextMessage, []byte(`42/chat,["SUBSCRIBE_CHANNEL",{"channel":{"_id":"t2","type":"topic"}}]`))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no answer to a subscription while the store was read for the parties: %v", err)
		}
		if strings.HasPrefix(string(msg), `42/chat,["CHANNEL_SUBSCRIBED",{"channel":{"_id":"t2"`) {
			return
		}
	}
}
