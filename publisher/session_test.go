package publisher

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	socketio "github.com/googollee/go-socket.io"
	eio "github.com/googollee/go-socket.io/engineio/session"
	"github.com/gorilla/websocket"
)

func newTestServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	auth, _ := NewAuth(nil, nil, true)
	s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Serve()
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

// counts returns how many sessions the server holds and how many subscribers topic has.
func counts(s *Server, topic string) (sessions, subscribers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions), len(s.byTopic[topic])
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
	big := `42/chat,["SEND_PRESENCE_EVENT",{"x":"` + strings.Repeat("a", maxPollBody) + `"}]`
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

// fakeConn is a socket.io connection for calling the handlers directly, in an order that a
// real connection reaches only by a race: its disconnect, run from another goroutine, before
// a request it was reading.
type fakeConn struct {
	socketio.Conn // methods not overridden are not called
	id            string
	ctx           any
}

func (f *fakeConn) ID() string                                       { return "fake-1" }
func (f *fakeConn) Context() any                                     { return f.ctx }
func (f *fakeConn) SetContext(v any)                                 { f.ctx = v }
func (f *fakeConn) URL() url.URL                                     { return url.URL{} }
func (f *fakeConn) RemoteAddr() net.Addr                             { return &net.TCPAddr{} }
func (f *fakeConn) Close() error                                     { return nil }
func (f *fakeConn) NextWriter(eio.FrameType) (io.WriteCloser, error) { return nopWriter{}, nil }

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriter) Close() error                { return nil }

// TestNothingAfterDisconnect: a subscribe or an online read after the client dropped adds
// no subscriber and announces nobody who will never leave.
func TestNothingAfterDisconnect(t *testing.T) {
	s, _ := newTestServer(t)
	watcher := &fakeConn{id: "watcher"}
	if err := s.onConnect(watcher); err != nil {
		t.Fatal(err)
	}
	s.onSubscribe(watcher, json.RawMessage(`{"channel":{"_id":"t1","type":"topic"}}`))
	w := sessionOf(watcher)

	c := &fakeConn{id: "dropped"}
	if err := s.onConnect(c); err != nil {
		t.Fatal(err)
	}
	s.onSubscribe(c, json.RawMessage(`{"channel":{"_id":"t1","type":"topic"}}`))
	sess := sessionOf(c)
	s.onDisconnect(c, "transport close")

	before := w.out.queued()
	s.onSubscribe(c, json.RawMessage(`{"channel":{"_id":"t1","type":"topic"}}`))
	s.onSendPresence(c, json.RawMessage(`{"category":"app.event.presence.party.online","topicId":"t1","content":{"offline":false}}`))
	if _, subs := counts(s, "t1"); subs != 1 {
		t.Errorf("t1 has %d subscribers after the client dropped; want the watcher alone", subs)
	}
	if n := len(sess.online); n != 0 {
		t.Errorf("a dropped client is recorded online in %d topics", n)
	}
	if got := w.out.queued(); got != before {
		t.Errorf("the topic was sent %d events from a dropped client", got-before)
	}
}
