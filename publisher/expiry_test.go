package publisher

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/jwttest"
	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// slowRoster is a roster whose Remove waits until released, counting the calls.
type slowRoster struct {
	mu      sync.Mutex
	removes int
	release chan struct{}
}

func (r *slowRoster) Parties(context.Context, string) ([]mapper.Event, error) { return nil, nil }
func (r *slowRoster) Replay(_ mapper.Event, show func()) bool                 { show(); return true }
func (r *slowRoster) Deliver(_ mapper.Event, show func()) bool                { show(); return true }
func (r *slowRoster) Resubscribed()                                           {}
func (r *slowRoster) Remove(ctx context.Context, topic, sid string) error {
	r.mu.Lock()
	r.removes++
	r.mu.Unlock()
	select {
	case <-r.release:
	case <-ctx.Done():
	}
	return nil
}

func (r *slowRoster) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removes
}

type expelClient struct {
	fakeClient
	mu       sync.Mutex
	expelled []string
}

func (c *expelClient) Expel(reason string) bool {
	c.mu.Lock()
	c.expelled = append(c.expelled, reason)
	c.mu.Unlock()
	return true
}

func adminToken(t *testing.T, exp time.Time) string {
	t.Helper()
	return jwttest.HS256("secret", map[string]any{"sub": "boss", "role": "admin", "topics": []string{"*"}, "exp": exp.Unix()})
}

func removalRequest(sid string) json.RawMessage {
	return json.RawMessage(`{"category":"party.removed","topicId":"t1","content":{"attendee":{"attendee":"` + sid + `"}}}`)
}

// TestExpiryWhenActing: a removal asked for before the token's exp and acted on after it is
// refused without calling Twilio; the expired client is expelled with "token expired".
func TestExpiryWhenActing(t *testing.T) {
	auth, _ := NewAuth([]byte("secret"), nil, false)
	roster := &slowRoster{release: make(chan struct{})}
	s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Serve(roster)
	defer s.Close()
	c := &expelClient{fakeClient: fakeClient{id: "c"}}
	sess, err := s.connect(c, adminToken(t, time.Now().Add(1100*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	s.ask(sess, EvSubscribe, json.RawMessage(`{"channel":{"_id":"t1","type":"topic"}}`))
	_, slow, _ := s.sendPresence(sess, removalRequest("CA1"))
	if slow == nil {
		t.Fatal("the removal was refused at once")
	}
	time.Sleep(time.Until(sess.claims.ExpiresAt.Time) + 50*time.Millisecond)
	ack := slow(context.Background())
	if !strings.Contains(string(ack), "token expired") {
		t.Errorf("a removal acted on after exp acknowledged %s; want its refusal", ack)
	}
	if n := roster.count(); n != 0 {
		t.Errorf("Twilio was asked %d times after the token expired", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.expelled) != 1 || c.expelled[0] != "token expired" {
		t.Errorf("expelled %q; want [token expired]", c.expelled)
	}
}

// TestTwilioWaitsBounded: at most 4 requests of a connection wait on Twilio; more are
// refused at once; removals of a call under way ask Twilio once.
func TestTwilioWaitsBounded(t *testing.T) {
	auth, _ := NewAuth([]byte("secret"), nil, false)
	roster := &slowRoster{release: make(chan struct{})}
	s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Serve(roster)
	defer s.Close()
	c := &expelClient{fakeClient: fakeClient{id: "c"}}
	sess, err := s.connect(c, adminToken(t, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	s.ask(sess, EvSubscribe, json.RawMessage(`{"channel":{"_id":"t1","type":"topic"}}`))
	var acks sync.WaitGroup
	refused := 0
	var mu sync.Mutex
	for range 2000 {
		acks.Add(1)
		s.event(sess, EvSendPresence, removalRequest("CA1"), func(ack []byte) {
			mu.Lock()
			if strings.Contains(string(ack), "at most 4") {
				refused++
			}
			mu.Unlock()
			acks.Done()
		})
	}
	time.Sleep(100 * time.Millisecond)
	if n := roster.count(); n != 1 {
		t.Errorf("Twilio asked %d times to remove one call; want 1", n)
	}
	close(roster.release)
	acks.Wait()
	if refused != 1996 {
		t.Errorf("%d removals refused; want 1996 (4 may wait)", refused)
	}
}
