package publisher

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// wsClient is a minimal socket.io 2.x (Engine.IO 3) client over websocket, enough to
// subscribe to a topic and count the events that arrive.
type wsClient struct {
	conn *websocket.Conn
	mu   sync.Mutex
	got  int
	lost bool // the connection ended
	cond *sync.Cond
}

func dialWS(tb testing.TB, base, topic string) *wsClient {
	tb.Helper()
	conn := rawClient(tb, base)
	c := &wsClient{conn: conn}
	c.cond = sync.NewCond(&c.mu)
	joinChat(tb, conn)
	subscribeRaw(tb, conn, topic)
	conn.SetReadDeadline(time.Time{})
	go func() {
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				c.mu.Lock()
				c.lost = true
				c.cond.Broadcast()
				c.mu.Unlock()
				return
			}
			if strings.HasPrefix(string(msg), `42/chat,["PRESENCE_EVENT_RESPONSE"`) {
				c.mu.Lock()
				c.got++
				c.cond.Broadcast()
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// wait waits until the client has n events; it fails if the connection ends first.
func (c *wsClient) wait(tb testing.TB, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.got < n {
		if c.lost {
			tb.Fatalf("connection lost after %d of %d events", c.got, n)
		}
		c.cond.Wait()
	}
}

// window is how many events the benchmark lets its clients fall behind: well inside a
// client's outbox, which disconnects a client that falls 1 MiB behind.
const window = 256

// BenchmarkBroadcast measures one dial-in event reaching every subscriber of its topic, over
// real websocket connections to the socket.io server.
func BenchmarkBroadcast(b *testing.B) {
	for _, subs := range []int{1, 20, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			auth, _ := NewAuth(nil, nil, true)
			s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			s.Serve(nil)
			defer s.Close()
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			clients := make([]*wsClient, subs)
			for i := range clients {
				clients[i] = dialWS(b, srv.URL, "t1")
			}
			ev := mapper.Online(mapper.Party{CallSID: "CAe1889084a107d447398c45f7ab8f7aa2", TopicID: "t1",
				DisplayName: "John Smith", Username: "jsmith@fakeemail.com"}, "00fa52ac-1904-46ea-b7dc-1c496a712aef")
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if i >= window && i%(window/2) == 0 {
					for _, c := range clients {
						c.wait(b, i-window)
					}
				}
				s.Publish(ev)
			}
			for _, c := range clients {
				c.wait(b, b.N)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/event-to-all")
		})
	}
}
