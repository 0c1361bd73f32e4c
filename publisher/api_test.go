package publisher

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// oneParty is a Roster whose every topic has one phone party.
type oneParty struct{}

func (oneParty) Parties(_ context.Context, topicID string) ([]mapper.Event, error) {
	p := mapper.Party{CallSID: "CA0001", TopicID: topicID, DisplayName: "John Smith"}
	return []mapper.Event{mapper.Online(p, "id-1")}, nil
}

func (oneParty) Remove(context.Context, string, string) error { return mapper.ErrUnknownParty }

func (oneParty) Replay(_ mapper.Event, show func()) bool  { show(); return true }
func (oneParty) Deliver(_ mapper.Event, show func()) bool { show(); return true }
func (oneParty) Resubscribed()                            {}

// TestPartiesAuthorization: the parties API takes the Bearer scheme name in any case, and
// refuses what is not a valid bearer token of the topic.
func TestPartiesAuthorization(t *testing.T) {
	secret := []byte("hs256-secret")
	auth, _ := NewAuth(secret, nil, false)
	s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Serve(oneParty{})
	defer s.Close()
	mux := http.NewServeMux()
	mux.Handle(PathParties, s.PartiesHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok := mint(t, "HS256", secret, claims(time.Hour)) // grants t1

	tests := []struct {
		name   string
		header string
		topic  string
		want   int
	}{
		{"Bearer", "Bearer " + tok, "t1", 200},
		{"bearer", "bearer " + tok, "t1", 200},
		{"BEARER", "BEARER " + tok, "t1", 200},
		{"bEaReR with extra spaces", "bEaReR   " + tok + " ", "t1", 200},
		{"another topic", "bearer " + tok, "t2", 403},
		{"no header", "", "t1", 401},
		{"Basic scheme", "Basic " + tok, "t1", 401},
		{"scheme only", "Bearer", "t1", 401},
		{"token without scheme", tok, "t1", 401},
		{"bad token", "bearer a.b.c", "t1", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/topics/"+tc.topic+"/parties", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d (%s); want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want != 200 {
				return
			}
			var events []mapper.Event
			if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Sender.ID != "CA0001" || events[0].Sender.DisplayName != "John Smith" {
				t.Fatalf("parties %+v; want the one phone party", events)
			}
		})
	}
}
