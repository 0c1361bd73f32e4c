package publisher

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func newTestServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	auth, _ := NewAuth(nil, nil, true)
	s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Serve(nil)
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

// counts returns how many sessions the server holds and how many subscribers topic has.
func counts(s *Server, topic string) (sessions, subscribers int) {
	sessions = s.io.Count()
	s.mu.Lock()
	defer s.mu.Unlock()
	return sessions, s.byTopic.count(keyOf(topic))
}

func waitCounts(t *testing.T, s *Server, topic string, sessions, subscribers int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, m := counts(s, topic)
		if n == sessions && m == subscribers {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions and %d subscribers of %s; want %d and %d", n, m, topic, sessions, subscribers)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawClient opens a socket.io websocket connection to a server at base, with a read
// deadline of 10 s.
func rawClient(t testing.TB, base string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=3&transport=websocket"
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return conn
}

func expectMessage(t testing.TB, conn *websocket.Conn, prefix string) {
	t.Helper()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", prefix, err)
		}
		if strings.HasPrefix(string(msg), prefix) {
			return
		}
	}
}

// joinChat opens the /chat namespace on a raw connection.
func joinChat(t testing.TB, conn *websocket.Conn) {
	t.Helper()
	expectMessage(t, conn, "0{")
	conn.WriteMessage(websocket.TextMessage, []byte("40/chat,"))
	expectMessage(t, conn, "40/chat")
}

// subscribeRaw subscribes a raw connection to a topic.
func subscribeRaw(t testing.TB, conn *websocket.Conn, topic string) {
	t.Helper()
	conn.WriteMessage(websocket.TextMessage, []byte(`42/chat,["SUBSCRIBE_CHANNEL",{"channel":{"_id":"`+topic+`","type":"topic"}}]`))
	expectMessage(t, conn, `42/chat,["CHANNEL_SUBSCRIBED"`)
}

// TestRepeatedConnect: a client that sends CONNECT for /chat twice keeps one session, and
// leaves nothing behind when it goes.
func TestRepeatedConnect(t *testing.T) {
	s, srv := newTestServer(t)
	conn := rawClient(t, srv.URL)
	joinChat(t, conn)
	subscribeRaw(t, conn, "t1")
	conn.WriteMessage(websocket.TextMessage, []byte("40/chat,"))
	subscribeRaw(t, conn, "t1")
	waitCounts(t, s, "t1", 1, 1)
	conn.Close()
	waitCounts(t, s, "t1", 0, 0)
}

// TestWebsocketMessageLimit: a websocket message over the polling body cap closes the
// connection.
func TestWebsocketMessageLimit(t *testing.T) {
	s, srv := newTestServer(t)
	conn := rawClient(t, srv.URL)
	joinChat(t, conn)
	waitCounts(t, s, "t1", 1, 0)
	big := `42/chat,["SEND_PRESENCE_EVENT",{"x":"` + strings.Repeat("a", 1<<20) + `"}]`
	conn.WriteMessage(websocket.TextMessage, []byte(big))
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the connection stayed open after an oversized message")
		}
		if err != nil {
			break // closed by the server
		}
	}
	waitCounts(t, s, "t1", 0, 0)
}

// fakeClient is a connection for calling the server directly, in an order that a real
// connection reaches only by a race: its disconnect before a request it was reading.
type fakeClient struct {
	id      string
	sent    int
	packets []string
}

func (f *fakeClient) ID() string        { return f.id }
func (f *fakeClient) Expel(string) bool { return true }
func (f *fakeClient) Send(p []byte) bool {
	f.sent++
	f.packets = append(f.packets, string(p))
	return true
}

// TestNothingAfterDisconnect: a subscribe or an online read after the client dropped adds
// no subscriber and announces nobody who will never leave.
func TestNothingAfterDisconnect(t *testing.T) {
	s, _ := newTestServer(t)
	subscribe := json.RawMessage(`{"channel":{"_id":"t1","type":"topic"}}`)
	watcher := &fakeClient{id: "watcher"}
	w, err := s.connect(watcher, "")
	if err != nil {
		t.Fatal(err)
	}
	s.ask(w, EvSubscribe, subscribe)

	sess, err := s.connect(&fakeClient{id: "dropped"}, "")
	if err != nil {
		t.Fatal(err)
	}
	s.ask(sess, EvSubscribe, subscribe)
	s.disconnect(sess)

	before := watcher.sent
	s.ask(sess, EvSubscribe, subscribe)
	s.ask(sess, EvSendPresence, json.RawMessage(`{"category":"app.event.presence.party.online","topicId":"t1","content":{"offline":false}}`))
	if _, subs := counts(s, "t1"); subs != 1 {
		t.Errorf("t1 has %d subscribers after the client dropped; want the watcher alone", subs)
	}
	if n := len(sess.online); n != 0 {
		t.Errorf("a dropped client is recorded online in %d topics", n)
	}
	if got := watcher.sent; got != before {
		t.Errorf("the topic was sent %d events from a dropped client", got-before)
	}
}

// ask sends a client's event as the read loop does and waits for its acknowledgement,
// answered at once or off the read loop.
func (s *Server) ask(sess *session, name string, arg json.RawMessage) []byte {
	acked := make(chan []byte, 1)
	s.event(sess, name, arg, func(ack []byte) { acked <- ack })
	return <-acked
}
