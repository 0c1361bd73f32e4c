package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// silentTwilio lists two conferences in progress, then never answers again: every other
// request (participants, a hang-up, a call's caller) is held until the bridge gives up on
// it. held reports each such request as "METHOD path" once it is waiting.
func silentTwilio(t *testing.T) (url string, held <-chan string) {
	t.Helper()
	waiting := make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != accountID || pass != authToken {
			twilioError(w, 401, 20003, "Authenticate")
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/2010-04-01/Accounts/"+accountID+"/Conferences.json" {
			writeJSON(w, map[string]any{"conferences": []map[string]any{
				{"sid": confSID(1), "friendly_name": topicA, "status": "in-progress"},
				{"sid": confSID(2), "friendly_name": topicB, "status": "in-progress"},
			}, "next_page_uri": nil, "page": 0, "page_size": 1000})
			return
		}
		io.Copy(io.Discard, r.Body) // then the server notices when the bridge hangs up
		waiting <- r.Method + " " + r.URL.Path
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, waiting
}

// awaitHeld waits until Twilio holds a request whose "METHOD path" has the given prefix.
func awaitHeld(t *testing.T, held <-chan string, prefix string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-held:
			if strings.HasPrefix(r, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("Twilio got no %s… within 10 s", prefix)
		}
	}
}

// TestSIGTERMWithSilentTwilio: Twilio stops answering while the bridge waits on it in every
// way it can: reconciliation listing a conference's participants, an admin's removal hanging
// a call up, and a webhook naming a caller the roster never saw. SIGTERM must still end the
// process within the contract's bound (§4: never more than 10 s, whatever Twilio does), with
// exit code 0 and the webhook in flight answered. Before every Twilio call ended with its
// context, the bridge waited for each REST request's own 10 s timeout, one conference after
// another: about 20 s here.
func TestSIGTERMWithSilentTwilio(t *testing.T) {
	t.Parallel()
	url, held := silentTwilio(t)
	env := prodEnv(t, nil)
	env["DIALIN_TWILIO_API_URL"] = url
	b := startBridge(t, env)
	prefix := "/2010-04-01/Accounts/" + accountID + "/"
	awaitHeld(t, held, "GET "+prefix+"Conferences/"+confSID(1)+"/Participants") // reconciliation waits

	admin := connect(t, b, token("boss", "admin", "*"), "websocket")
	admin.connected()
	admin.subscribe(topicA)
	b.dialIn(callSID(1), unknownCaller, numA, confSID(1), topicA, 1)
	checkPhone(t, admin.nextPresence(), "app.event.presence.party.online", topicA, callSID(1), joined)
	admin.emit("SEND_PRESENCE_EVENT", removal(topicA, callSID(1), "remove"))
	awaitHeld(t, held, "POST "+prefix+"Calls/"+callSID(1)) // the hang-up waits

	// A join of a call whose incoming call the bridge never saw: it asks Twilio who called.
	answered := make(chan int, 1)
	join := confForm("participant-join", confSID(1), topicA, 2, callSID(2))
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/twilio/conference", strings.NewReader(join.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sign(authToken, b.env["DIALIN_PUBLIC_URL"]+"/twilio/conference", join))
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	awaitHeld(t, held, "GET "+prefix+"Calls/"+callSID(2)) // the webhook waits

	start := time.Now()
	code := b.stop(syscall.SIGTERM)
	took := time.Since(start)
	t.Logf("exited %v after SIGTERM", took)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM; want 0", code)
	}
	if took > 10*time.Second {
		t.Errorf("SIGTERM took %v with Twilio silent; want at most 10 s", took)
	}
	select {
	case status := <-answered:
		if status != http.StatusNoContent {
			t.Errorf("the webhook in flight got %d; want 204", status)
		}
	case <-time.After(time.Second):
		t.Error("the webhook in flight was never answered")
	}
}
