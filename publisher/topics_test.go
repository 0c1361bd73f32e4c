package publisher

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTopicsGranted: GET /api/topics answers the rooms file's topics the token grants, in the
// file's order, with their names; "*" grants every one; a bad or missing token gets 401 with a
// one-line JSON error, except in dev mode, where no token acts as an admin of every topic.
func TestTopicsGranted(t *testing.T) {
	secret := []byte("hs256-secret")
	list := func() []Topic {
		return []Topic{{ID: "t2", Name: "Weekly sync"}, {ID: "t1"}, {ID: "t3", Name: "<b>x</b>"}}
	}
	serve := func(dev bool) *httptest.Server {
		auth, _ := NewAuth(secret, nil, dev)
		s := New(Options{Auth: auth}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		mux := http.NewServeMux()
		mux.Handle(PathTopics, s.TopicsHandler(list))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}
	prod, dev := serve(false), serve(true)
	token := func(topics ...string) string {
		c := claims(time.Hour)
		c["topics"] = topics
		return mint(t, "HS256", secret, c)
	}
	expired := mint(t, "HS256", secret, claims(-time.Minute))

	tests := []struct {
		name   string
		srv    *httptest.Server
		header string
		status int
		body   string
	}{
		{"one topic", prod, "Bearer " + token("t1", "t9"), 200, `[{"topicId":"t1"}]`},
		{"two topics, file order", prod, "bearer " + token("t3", "t2"), 200, `[{"topicId":"t2","name":"Weekly sync"},{"topicId":"t3","name":"\u003cb\u003ex\u003c/b\u003e"}]`},
		{"every topic", prod, "Bearer " + token("*"), 200, `[{"topicId":"t2","name":"Weekly sync"},{"topicId":"t1"},{"topicId":"t3","name":"\u003cb\u003ex\u003c/b\u003e"}]`},
		{"no topic of the file", prod, "Bearer " + token("t9"), 200, `[]`},
		{"no token", prod, "", 401, `{"error":"invalid token: no token"}`},
		{"expired", prod, "Bearer " + expired, 401, `{"error":"invalid token: token has invalid claims: token is expired"}`},
		{"garbage", prod, "Bearer a.b.c", 401, ""},
		{"dev, no token", dev, "", 200, `[{"topicId":"t2","name":"Weekly sync"},{"topicId":"t1"},{"topicId":"t3","name":"\u003cb\u003ex\u003c/b\u003e"}]`},
		{"dev, a token of one topic", dev, "Bearer " + token("t1"), 200, `[{"topicId":"t1"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tc.srv.URL+"/api/topics", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			got := strings.TrimSpace(string(body))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s); want %d", resp.StatusCode, got, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q; want application/json", ct)
			}
			if tc.body != "" && got != tc.body {
				t.Errorf("body %s; want %s", got, tc.body)
			}
			if tc.status != 200 {
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || e.Error == "" || strings.Contains(e.Error, "\n") {
					t.Errorf("error body %q; want one line in {\"error\"}", got)
				}
			}
		})
	}
}
