package twilioapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testAccount = "AC00000000000000000000000000000000"
	testCall    = "CA00000000000000000000000000000001"
)

// silentTwilio is a Twilio that takes every request and never answers. It reports each
// request whose connection the client gave up on.
func silentTwilio(t *testing.T) (url string, abandoned <-chan string) {
	t.Helper()
	gone := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server watches the connection for its close
		<-r.Context().Done()        // the client closed the connection: the request was cancelled
		gone <- r.Method + " " + r.URL.Path
	}))
	t.Cleanup(srv.Close)
	return srv.URL, gone
}

// TestCallsEndWithTheirContext: twilio-go builds its requests with context.Background(), so
// without the bridge's transport a REST call waited for its 10 s (3 s for Caller) timeout
// whatever the caller's ctx said. Each call must return at its ctx's deadline, with the
// deadline as its error, and its request must be cancelled at Twilio's end, not abandoned.
func TestCallsEndWithTheirContext(t *testing.T) {
	url, abandoned := silentTwilio(t)
	c, err := New(url, testAccount, "token")
	if err != nil {
		t.Fatal(err)
	}
	var observed atomic.Int32
	c.Observe(func(string, error) { observed.Add(1) })
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Hangup", func(ctx context.Context) error { return c.Hangup(ctx, testCall) }},
		{"Caller", func(ctx context.Context) error { _, _, err := c.Caller(ctx, testCall); return err }},
		{"Live", func(ctx context.Context) error { _, err := c.Live(ctx); return err }},
	}
	const deadline = 300 * time.Millisecond
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v; want one that is context.DeadlineExceeded", err)
			}
			// CallerTimeout (3 s) is the shortest cap of the client's own: under it, with room
			// for a busy machine.
			if took < deadline || took > CallerTimeout-500*time.Millisecond {
				t.Errorf("returned after %v; want at its ctx's deadline, %v", took, deadline)
			}
			select {
			case req := <-abandoned:
				t.Logf("Twilio saw %s cancelled", req)
			case <-time.After(5 * time.Second):
				t.Error("the request is still open at Twilio's end 5 s after the call returned")
			}
		})
	}
	if got := observed.Load(); got != int32(len(calls)) {
		t.Errorf("%d outcomes observed; want %d", got, len(calls))
	}
}

// TestCallEndsWhenCancelled: a call waiting on Twilio returns as soon as its owner cancels
// it (shutdown), long before any timeout.
func TestCallEndsWhenCancelled(t *testing.T) {
	url, abandoned := silentTwilio(t)
	c, err := New(url, testAccount, "token")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Live(ctx); done <- err }()
	time.Sleep(100 * time.Millisecond) // let the request reach Twilio
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Live still waiting 5 s after its ctx was cancelled (its own cap is 10 s)")
	}
	select {
	case <-abandoned:
	case <-time.After(5 * time.Second):
		t.Error("the request is still open at Twilio's end")
	}
}

// TestCallWithEndedContext makes no request at all.
func TestCallWithEndedContext(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
	}))
	defer srv.Close()
	c, err := New(srv.URL, testAccount, "token")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Hangup(ctx, testCall); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v; want context.Canceled", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached Twilio; want none", n)
	}
}

// TestAnswersStillArrive: the per-call client still talks to Twilio: a hang-up reaches
// Calls/{sid}.json with Status=completed, and Live follows a conference to its participants.
func TestAnswersStillArrive(t *testing.T) {
	var hungUp atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/"+testAccount+"/Calls/{sid}", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		hungUp.Store(r.PathValue("sid") + " " + r.Form.Get("Status"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"sid":"` + testCall + `","status":"completed"}`))
	})
	mux.HandleFunc("GET /2010-04-01/Accounts/"+testAccount+"/Conferences.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"conferences":[{"sid":"CF00000000000000000000000000000001","friendly_name":"topic-1","status":"in-progress"}],"next_page_uri":null}`))
	})
	mux.HandleFunc("GET /2010-04-01/Accounts/"+testAccount+"/Conferences/{conf}/Participants.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"participants":[{"call_sid":"` + testCall + `","muted":true,"hold":false,"status":"connected"}],"next_page_uri":null}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(srv.URL, testAccount, "token")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Hangup(ctx, testCall); err != nil {
		t.Fatal(err)
	}
	if got, want := hungUp.Load(), testCall+".json completed"; got != want {
		t.Errorf("Twilio saw %q; want %q", got, want)
	}
	live, err := c.Live(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].CallSID != testCall || live[0].Conference != "topic-1" || !live[0].Muted {
		t.Errorf("live %+v; want the one muted participant of topic-1", live)
	}
}
