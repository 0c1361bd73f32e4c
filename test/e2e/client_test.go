package e2e

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
)

func token(sub, role string, topics ...string) string {
	return jwttest.HS256(jwtSecret, map[string]any{
		"sub": sub, "name": "User " + sub, "role": role, "topics": topics,
		"exp": time.Now().Add(time.Hour).Unix(),
	})
}

// client is one room client: node running roomclient.js with socket.io-client 2.x.
type client struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	msgs  chan msg
}

type msg struct {
	Type   string          `json:"type"`
	Name   string          `json:"name"`
	Data   json.RawMessage `json:"data"`
	Error  string          `json:"error"`
	Reason string          `json:"reason"`
}

// connect starts a client; it does not wait for the connection (see connected).
func connect(t testing.TB, b *bridge, tok, transport string) *client {
	t.Helper()
	return connectWith(t, b, "socket.io-client", tok, transport)
}

// connectWith starts a client that loads the npm package module (an alias of another
// socket.io-client version, from package.json).
func connectWith(t testing.TB, b *bridge, module, tok, transport string) *client {
	t.Helper()
	args := []string{filepath.Join(testDir(), "roomclient.js"), "--module", module, b.URL, transport}
	if tok != "" {
		args = append(args, tok)
	}
	cmd, stdin, msgs := startNode[msg](t, os.Stderr, 3*time.Second, args...)
	return &client{t: t, cmd: cmd, stdin: stdin, msgs: msgs}
}

// subscriber connects a client with a token for topic and subscribes it.
func subscriber(t testing.TB, b *bridge, topic, transport string) *client {
	t.Helper()
	c := connect(t, b, token("user-"+topic[:6], "member", topic), transport)
	c.connected()
	c.subscribe(topic)
	return c
}

func (c *client) next(d time.Duration) (msg, bool) {
	select {
	case m, ok := <-c.msgs:
		return m, ok
	case <-time.After(d):
		return msg{}, false
	}
}

func (c *client) connected() {
	c.t.Helper()
	for {
		m, ok := c.next(eventWait)
		switch {
		case !ok:
			c.t.Fatal("client did not connect")
		case m.Type == "connect":
			return
		case m.Type == "connect_error" || m.Type == "disconnect" || m.Type == "error":
			c.t.Fatalf("client could not connect: %+v", m)
		}
	}
}

// transport asks which transport the client's connection is on now. Events that arrive
// meanwhile fail the test.
func (c *client) transport() string {
	c.t.Helper()
	if _, err := c.stdin.Write([]byte(`{"transport":true}` + "\n")); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatal("client ended while asked for its transport")
			}
			if m.Type == "transport" {
				return m.Name
			}
			if m.Type == "event" {
				c.t.Fatalf("event %s while asking for the transport", m.Name)
			}
		case <-deadline:
			c.t.Fatal("client did not say its transport")
		}
	}
}

// refused asserts that the connection is refused: it never gets to subscribe.
func (c *client) refused() {
	c.t.Helper()
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return
			}
			switch m.Type {
			case "connect_error", "disconnect", "error":
				return
			case "connect":
				// socket.io 2.x may report the transport connection before the namespace
				// refusal; it must not be able to subscribe.
				c.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicA, "type": "topic"}})
			case "event":
				if m.Name == "CHANNEL_SUBSCRIBED" {
					c.t.Fatalf("refused client subscribed: %+v", m)
				}
			}
		case <-deadline:
			c.t.Fatal("connection was not refused")
		}
	}
}

func (c *client) emit(name string, data any) {
	c.t.Helper()
	line, _ := json.Marshal(map[string]any{"emit": name, "data": data})
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		c.t.Fatal(err)
	}
}

// emitRaw emits with exactly the given arguments (none, several, or of any JSON type).
func (c *client) emitRaw(name string, args ...any) {
	c.t.Helper()
	if args == nil {
		args = []any{}
	}
	line, _ := json.Marshal(map[string]any{"emit": name, "emitRaw": args})
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) close() {
	line, _ := json.Marshal(map[string]any{"close": true})
	c.stdin.Write(append(line, '\n'))
}

// waitEvent returns the next server event named name, skipping others.
func (c *client) waitEvent(name string) json.RawMessage {
	c.t.Helper()
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("client ended waiting for %s", name)
			}
			if m.Type == "event" && m.Name == name {
				return m.Data
			}
			if m.Type == "disconnect" || m.Type == "error" {
				c.t.Fatalf("client lost its connection waiting for %s: %+v", name, m)
			}
		case <-deadline:
			c.t.Fatalf("no %s within %v", name, eventWait)
		}
	}
}

func (c *client) subscribe(topic string) {
	c.t.Helper()
	c.emit("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topic, "type": "topic"}})
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatal("client ended while subscribing")
			}
			if m.Type == "event" && m.Name == "CHANNEL_SUBSCRIBED" {
				return
			}
			if m.Type == "event" && m.Name == "SUBSCRIBE_CHANNEL_FAILED" || m.Type == "disconnect" {
				c.t.Fatalf("subscribe %s failed: %+v %s", topic, m, m.Data)
			}
		case <-deadline:
			c.t.Fatalf("no CHANNEL_SUBSCRIBED for %s", topic)
		}
	}
}

// presence is a PRESENCE_EVENT_RESPONSE as clients decode it.
type presence struct {
	ID       string `json:"_id"`
	Category string `json:"category"`
	TopicID  string `json:"topicId"`
	Sender   struct {
		ID          string `json:"_id"`
		Type        string `json:"type"`
		Username    string `json:"username"`
		DisplayName string `json:"displayname"`
		PictureURL  string `json:"picture_url"`
	} `json:"sender"`
	Content struct {
		Offline      bool   `json:"offline"`
		Role         string `json:"role"`
		MediaSession struct {
			Video, Audio, Connected, Screenshare, SelfMuted, Phone bool
		} `json:"mediaSession"`
		Idle      bool   `json:"idle"`
		Desktop   bool   `json:"desktop"`
		EmitedBy  string `json:"emitedby"`
		SessionID string `json:"sessionId"`
	} `json:"content"`
	LoopbackMetadata json.RawMessage `json:"loopbackMetadata"`
	Error            string          `json:"error"`
	Raw              json.RawMessage `json:"-"`
}

// nextPresence returns the next PRESENCE_EVENT_RESPONSE.
func (c *client) nextPresence() presence {
	c.t.Helper()
	raw := c.waitEvent("PRESENCE_EVENT_RESPONSE")
	var p presence
	if err := json.Unmarshal(raw, &p); err != nil {
		c.t.Fatalf("decode %s: %v", raw, err)
	}
	p.Raw = raw
	return p
}

// expectNothing asserts that no server event arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return
			}
			if m.Type == "event" {
				c.t.Fatalf("unexpected %s: %s", m.Name, m.Data)
			}
		case <-deadline:
			return
		}
	}
}
