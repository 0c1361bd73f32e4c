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

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// partiesRoster answers Parties once released, and counts how many wait at once.
type partiesRoster struct {
	slowRoster
	mu         sync.Mutex
	now, most  int
	calls      int
	releaseAll chan struct{}
}

func (r *partiesRoster) Parties(ctx context.Context, _ string) ([]mapper.Event, error) {
	r.mu.Lock()
	r.now++
	r.calls++
	r.most = max(r.most, r.now)
	r.mu.Unlock()
	select {
	case <-r.releaseAll:
	case <-ctx.Done():
	}
	r.mu.Lock()
	r.now--
	r.mu.Unlock()
	return nil, nil
}

// TestRepliesQueued: a connection that sends request.parties faster than the store answers
// holds one store read and one goroutine for them, whatever it sends: they are answered one
// after the other, in order; once 256 wait, more are refused at once (media.session.invalid),
// and each that waited is answered once the store answers.
func TestRepliesQueued(t *testing.T) {
	auth, _ := NewAuth([]byte("secret"), nil, false)
	roster := &partiesRoster{releaseAll: make(chan struct{})}
	s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Serve(roster)
	defer s.Close()
	sess, err := s.connect(&fakeClient{id: "c"}, adminToken(t, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	s.ask(sess, EvSubscribe, json.RawMessage(`{"channel":{"_id":"t1","type":"topic"}}`))

	const sent = 300
	var mu sync.Mutex
	var oks, refused int
	answered := make(chan struct{}, sent)
	for range sent {
		s.event(sess, EvSendPresence, json.RawMessage(`{"category":"app.event.presence.request.parties","topicId":"t1","content":{}}`),
			func(ack []byte) {
				mu.Lock()
				if strings.Contains(string(ack), errTooManyReplays) {
					refused++
				} else {
					oks++
				}
				mu.Unlock()
				answered <- struct{}{}
			})
	}
	mu.Lock()
	early := refused
	mu.Unlock()
	if early < sent-maxQueuedReplays-1 || early > sent-maxQueuedReplays {
		t.Errorf("%d of %d refused at once; want all beyond the %d that may wait (and the one being answered)", early, sent, maxQueuedReplays)
	}
	close(roster.releaseAll)
	for range sent {
		select {
		case <-answered:
		case <-time.After(10 * time.Second):
			t.Fatalf("only some requests answered: %d ok, %d refused", oks, refused)
		}
	}
	roster.mu.Lock()
	defer roster.mu.Unlock()
	if roster.most != 1 {
		t.Errorf("%d store reads at once for one connection; want 1", roster.most)
	}
	if roster.calls != sent-early || oks != sent-early {
		t.Errorf("%d store reads, %d answered ok; want one each for the %d that waited", roster.calls, oks, sent-early)
	}
}
