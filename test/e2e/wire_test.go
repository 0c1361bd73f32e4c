package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startClient starts roomclient.js with extra options (--reconnect, --token-in-connect).
func startClient(t *testing.T, b *bridge, tok, transport string, options ...string) *client {
	t.Helper()
	args := append([]string{filepath.Join(testDir(), "roomclient.js")}, options...)
	args = append(args, b.URL, transport, tok)
	cmd, stdin, msgs := startNode[msg](t, os.Stderr, 3*time.Second, args...)
	return &client{t: t, cmd: cmd, stdin: stdin, msgs: msgs}
}

// emitAck emits an event with a callback and returns what the server acknowledged it with.
func (c *client) emitAck(name string, data any) json.RawMessage {
	c.t.Helper()
	line, _ := json.Marshal(map[string]any{"emit": name, "data": data, "ack": true})
	c.stdin.Write(append(line, '\n'))
	deadline := time.After(eventWait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("client ended waiting for the acknowledgement of %s", name)
			}
			if m.Type == "ack" && m.Name == name {
				return m.Data
			}
		case <-deadline:
			c.t.Fatalf("no acknowledgement of %s", name)
		}
	}
}

// TestRefusedTokenTellsWhy: a client with a bad token hears why in its error handler and does
// not reconnect in a loop, on both transports.
func TestRefusedTokenTellsWhy(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	for _, transport := range []string{"websocket", "polling"} {
		c := startClient(t, b, "not-a-token", transport, "--reconnect")
		var errs []string
		attempts := 0
		for deadline := time.After(3 * time.Second); ; {
			var m msg
			select {
			case m = <-c.msgs:
			case <-deadline:
			}
			if m.Type == "" {
				break
			}
			switch m.Type {
			case "error":
				errs = append(errs, m.Error)
			case "reconnect_attempt":
				attempts++
			case "connect":
				t.Fatalf("%s: a bad token connected", transport)
			}
		}
		if len(errs) != 1 || !strings.Contains(errs[0], "invalid token") {
			t.Errorf("%s: error handler got %q; want one invalid token", transport, errs)
		}
		if attempts != 0 {
			t.Errorf("%s: %d reconnect attempts in 3 s; want none", transport, attempts)
		}
	}
}

// TestTokenInConnectAndAcks: a client that sends its token in /chat's CONNECT packet alone is
// accepted, and events emitted with a callback are acknowledged with the answering payload.
func TestTokenInConnectAndAcks(t *testing.T) {
	t.Parallel()
	b := startBridge(t, prodEnv(t, nil))
	for _, transport := range []string{"websocket", "polling"} {
		c := startClient(t, b, token("user-ack", "member", topicA), transport, "--token-in-connect")
		c.connected()
		var sub struct {
			Channel struct {
				ID string `json:"_id"`
			} `json:"channel"`
			Error string `json:"error"`
		}
		json.Unmarshal(c.emitAck("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicA, "type": "topic"}}), &sub)
		if sub.Channel.ID != topicA || sub.Error != "" {
			t.Errorf("%s: SUBSCRIBE_CHANNEL acknowledged with %+v", transport, sub)
		}
		json.Unmarshal(c.emitAck("SUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicB, "type": "topic"}}), &sub)
		if sub.Error == "" {
			t.Errorf("%s: a topic the token does not grant acknowledged without an error", transport)
		}
		ack := c.emitAck("SEND_PRESENCE_EVENT", map[string]any{"category": "app.event.presence.party.online", "topicId": topicA, "content": map[string]any{"offline": false}})
		if string(ack) != `{"ok":true}` {
			t.Errorf("%s: SEND_PRESENCE_EVENT acknowledged with %s", transport, ack)
		}
		var refused struct{ Category, LoopbackMetadata string }
		json.Unmarshal(c.emitAck("SEND_PRESENCE_EVENT", map[string]any{"category": "party.removed", "topicId": topicA, "loopbackMetadata": "m1", "content": map[string]any{}}), &refused)
		if refused.Category != "media.session.invalid" || refused.LoopbackMetadata != "m1" {
			t.Errorf("%s: a refused request acknowledged with %+v", transport, refused)
		}
		if ack := c.emitAck("UNSUBSCRIBE_CHANNEL", map[string]any{"channel": map[string]string{"_id": topicA, "type": "topic"}}); !strings.Contains(string(ack), topicA) {
			t.Errorf("%s: UNSUBSCRIBE_CHANNEL acknowledged with %s", transport, ack)
		}
	}
}
