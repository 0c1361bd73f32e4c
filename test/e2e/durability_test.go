package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// answered posts a signed webhook without failing the test (the bridge may be killed while
// it is in flight) and reports whether it was answered with a success.
func (b *bridge) answered(client *http.Client, path, body, signature string) bool {
	req, err := http.NewRequest(http.MethodPost, b.URL+path, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", signature)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 300
}

// waitReady waits for /readyz after a restart.
func (b *bridge) waitReady() {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.get("/readyz", "").Status != 200 {
		if time.Now().After(deadline) {
			b.t.Fatalf("not ready after restart: %s", b.get("/readyz", "").Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillMidStream: what README's "What survives a restart" promises of kill -9. Calls dial
// in, join and (half of them) leave, eight at a time, and the bridge is SIGKILLed while
// webhooks are in flight. After the restart (Twilio's API failing, so reconciliation changes
// nothing), every call whose join was answered and whose leave was not is listed, with the
// identity its incoming-call webhook gave it, and no call whose leave was answered is.
func TestKillMidStream(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	twilio.fail(503)
	env := prodEnv(t, twilio)
	env["DIALIN_RECONCILE_INTERVAL"] = "1h"
	b := startBridge(t, env)
	conf := confSID(1)

	const calls = 4000
	type outcome struct{ joined, left bool }
	var (
		mu      sync.Mutex
		results = map[string]outcome{}
		next    = make(chan int)
		wg      sync.WaitGroup
		seq     = struct {
			sync.Mutex
			n int
		}{}
	)
	nextSeq := func() int {
		seq.Lock()
		defer seq.Unlock()
		seq.n++
		return seq.n
	}
	public := b.env["DIALIN_PUBLIC_URL"]
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := range next {
				sid := callSID(1000 + i)
				voice := voiceForm(sid, fmt.Sprintf("+1415555%04d", i), numA, "CallerName", fmt.Sprintf("Caller %d", i))
				if !b.answered(client, "/twilio/voice", voice.Encode(), sign(authToken, public+"/twilio/voice", voice)) {
					return
				}
				var o outcome
				join := confForm("participant-join", conf, topicA, nextSeq(), sid)
				o.joined = b.answered(client, "/twilio/conference", join.Encode(), sign(authToken, public+"/twilio/conference", join))
				if o.joined && i%2 == 0 {
					leave := confForm("participant-leave", conf, topicA, nextSeq(), sid)
					o.left = b.answered(client, "/twilio/conference", leave.Encode(), sign(authToken, public+"/twilio/conference", leave))
				}
				mu.Lock()
				results[sid] = o
				mu.Unlock()
				if !o.joined || (i%2 == 0 && !o.left) {
					return
				}
			}
		}()
	}
	killed := make(chan struct{})
	go func() {
		defer close(next)
		for i := 0; i < calls; i++ {
			select {
			case next <- i:
			case <-killed:
				return
			}
		}
	}()
	time.Sleep(700 * time.Millisecond) // webhooks in full flow
	b.stop(syscall.SIGKILL)
	close(killed)
	wg.Wait()

	b.restart()
	b.waitReady()
	got := b.parties(topicA)
	online, left := 0, 0
	for sid, o := range results {
		p, listed := got[sid]
		switch {
		case o.left:
			left++
			if listed {
				t.Errorf("%s: its leave was answered before the kill, but it is listed after the restart", sid)
			}
		case o.joined && (sidIndex(sid)%2 == 1):
			online++
			if !listed {
				t.Errorf("%s: its join was answered before the kill, but it is not listed after the restart", sid)
			} else if want := fmt.Sprintf("Caller %d", sidIndex(sid)); p.Sender.DisplayName != want {
				t.Errorf("%s: listed as %q after the restart; want %q", sid, p.Sender.DisplayName, want)
			}
		}
	}
	if online < 20 || left < 20 {
		t.Fatalf("only %d joins and %d leaves were answered before the kill: the kill came too early to tell", online, left)
	}
	t.Logf("killed after %d calls: %d online and %d left, as answered", len(results), online, left)
}

// sidIndex is i of callSID(1000+i).
func sidIndex(sid string) int {
	var n int
	fmt.Sscanf(sid[2:], "%x", &n)
	return n - 1000
}

// TestDamagedStore: a roster file damaged as a machine crash between syncs can leave it (the
// bridge did not close it cleanly, and its pages are garbage) is set aside when the bridge
// starts, an error says so, and reconciliation brings back the calls Twilio lists, named as
// Twilio's Calls resource says who placed them.
func TestDamagedStore(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	env := prodEnv(t, twilio)
	env["DIALIN_RECONCILE_INTERVAL"] = "1h"
	b := startBridge(t, env)
	conf := confSID(1)
	for i := 1; i <= 2; i++ {
		twilio.setLive(conf, topicA, callSID(i))
	}
	twilio.setCaller(callSID(1), knownCaller, "")
	twilio.setCaller(callSID(2), unknownCaller, "ANN SMITH")
	b.dialIn(callSID(1), knownCaller, numA, conf, topicA, 1)
	b.mustPost("/twilio/voice", voiceForm(callSID(2), unknownCaller, numA, "CallerName", "ANN SMITH"), 200)
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topicA, 2, callSID(2)), 204)
	b.stop(syscall.SIGKILL)
	path := filepath.Join(env["DIALIN_DATA_DIR"], "roster.db")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	page := int64(os.Getpagesize())
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", int(st.Size()-2*page))), 2*page); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b.restart()
	b.waitReady()
	logs := b.Logs()
	if !strings.Contains(logs, `"level":"ERROR","msg":"the roster file was damaged`) {
		t.Errorf("no error logged for the damaged file:\n%s", logs)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Errorf("damaged file set aside as %v; want one", aside)
	}
	got := b.parties(topicA)
	if len(got) != 2 || got[callSID(1)].Sender.DisplayName != "John Smith" || got[callSID(2)].Sender.DisplayName != "ANN SMITH" {
		t.Fatalf("after the restart: %v; want both calls Twilio lists, from reconciliation, named as before", got)
	}
	// The bridge goes on as usual: a clean stop, and a restart that finds its file whole.
	if code := b.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	b.restart()
	b.waitReady()
	if n := len(b.parties(topicA)); n != 2 {
		t.Errorf("%d parties after a clean restart; want 2", n)
	}
	if aside, _ := filepath.Glob(path + ".damaged-*"); len(aside) != 1 {
		t.Errorf("after a clean restart: %v set aside; want still the one", aside)
	}
}

// TestLostIncomingCall: a join whose incoming-call webhook the bridge never stored (lost in a
// machine crash) shows the caller as Twilio's Calls resource says: the directory's name for a
// known number, the masked number for another. When Twilio cannot say, the party is shown as
// "Phone caller", without a number.
func TestLostIncomingCall(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	env := prodEnv(t, twilio)
	env["DIALIN_RECONCILE_INTERVAL"] = "1h"
	b := startBridge(t, env)
	c := subscriber(t, b, topicA, "websocket")
	conf := confSID(1)
	twilio.setCaller(callSID(1), knownCaller, "")
	twilio.setCaller(callSID(2), unknownCaller, "")
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topicA, 1, callSID(1)), 204)
	if p := c.nextPresence(); p.Sender.DisplayName != "John Smith" || p.Sender.ID != callSID(1) {
		t.Errorf("known caller without its incoming call: shown as %q (%s); want John Smith", p.Sender.DisplayName, p.Sender.ID)
	}
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topicA, 2, callSID(2)), 204)
	if p, want := c.nextPresence(), "+1 ••• 0123"; p.Sender.DisplayName != want {
		t.Errorf("unknown caller without its incoming call: shown as %q; want its masked number %q", p.Sender.DisplayName, want)
	}
	// Twilio cannot say (the call is not found): shown without a number.
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topicA, 3, callSID(3)), 204)
	if p := c.nextPresence(); p.Sender.DisplayName != "Phone caller" || p.Sender.ID != callSID(3) {
		t.Errorf("caller Twilio does not know: shown as %q; want Phone caller", p.Sender.DisplayName)
	}
	// A leave of a call never seen stores its end and shows nothing; a late join of it
	// changes nothing.
	b.mustPost("/twilio/conference", confForm("participant-leave", conf, topicA, 5, callSID(4)), 204)
	b.mustPost("/twilio/conference", confForm("participant-join", conf, topicA, 4, callSID(4)), 204)
	c.expectNothing(quiet)
	if logs := b.LogsWritten(); strings.Contains(logs, unknownCaller[2:]) || strings.Contains(logs, knownCaller[2:]) {
		t.Errorf("a caller's number is in the logs in masked mode:\n%s", logs)
	}
}
