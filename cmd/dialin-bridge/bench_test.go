package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/logbuf"
	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"
	"github.com/dialin-bridge/dialin-bridge/metrics"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

const (
	benchURL   = "https://bridge.example.com"
	benchToken = "5e1b7c3a9d2f4e6081a2b3c4d5e6f708"
	benchTopic = "5a1339868509b80641a56655"
	benchTo    = "+15005550006"
)

// BenchmarkDialIn measures one dial-in through the real webhook stack, one webhook after the
// other: the incoming call, the participant's join and leave, and the call's completed status,
// each signed as Twilio signs it and answered by the production handler (body limit,
// signature check, parsing, presence core, roster, the socket.io publisher with no clients,
// metrics, and the production JSON logger writing to a file). cpu-ns/op is the process's CPU
// time per dial-in, user-ns/op and sys-ns/op its two parts; with the bolt store, ns/op is
// mostly fsync latency.
func BenchmarkDialIn(b *testing.B) {
	for _, store := range []string{"bolt", "memory"} {
		b.Run(store, func(b *testing.B) { benchWebhooks(b, store, 0, len(dialInSteps)) })
	}
}

// BenchmarkDialInPaced is BenchmarkDialIn at the pace of 150 dial-ins a second: its four
// webhooks 1.67 ms apart, the process idle in between, as a bridge serves them at that rate.
// Set against BenchmarkDialIn (webhooks back to back, with caches and the CPU's predictors
// warm), it shows what running cold costs each webhook. "sleep" is the pace alone: the
// benchmark's own sleeps and wake-ups, with no webhook, to be taken off the other two.
func BenchmarkDialInPaced(b *testing.B) {
	const pace = time.Second / 150 / 4
	for _, store := range []string{"bolt", "memory"} {
		b.Run(store, func(b *testing.B) { benchWebhooksPaced(b, store, pace) })
	}
	b.Run("sleep", func(b *testing.B) {
		u0, s0 := processCPU()
		for range b.N * len(dialInSteps) {
			time.Sleep(pace)
		}
		u1, s1 := processCPU()
		b.ReportMetric(float64((u1-u0+s1-s0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkWebhook measures each webhook of a dial-in alone, through the same stack as
// BenchmarkDialIn: each op is one webhook of a new call, whose earlier webhooks were sent
// outside the timer (join: the incoming call; leave: the incoming call and the join; ...).
func BenchmarkWebhook(b *testing.B) {
	for _, store := range []string{"bolt", "memory"} {
		for i, step := range dialInSteps {
			b.Run(store+"/"+step, func(b *testing.B) { benchWebhooks(b, store, i, i+1) })
		}
	}
}

// dialInSteps names the webhooks of a dial-in, in the order dialIn returns them.
var dialInSteps = []string{"voice", "join", "leave", "completed"}

// benchWebhooks times webhooks [from, to) of each dial-in, after sending its webhooks before
// from outside the timer. An op is one dial-in's timed webhooks.
func benchWebhooks(b *testing.B, store string, from, to int) {
	benchWebhooksAt(b, store, from, to, 0)
}

// benchWebhooksPaced times whole dial-ins with pace between webhooks.
func benchWebhooksPaced(b *testing.B, store string, pace time.Duration) {
	benchWebhooksAt(b, store, 0, len(dialInSteps), pace)
}

// benchWebhooksAt is benchWebhooks with pace between the timed webhooks (none when zero).
func benchWebhooksAt(b *testing.B, store string, from, to int, pace time.Duration) {
	dir := b.TempDir()
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	out := logbuf.New(logf, logbuf.DefaultInterval)
	defer out.Close()
	cfg := Config{Store: store, DataDir: dir, PublicURL: benchURL, AuthToken: benchToken}
	log := newLogger(cfg, out)
	st, err := openStore(cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rs, err := rooms.Parse(exampleRooms)
	if err != nil {
		b.Fatal(err)
	}
	current := func() *rooms.Rooms { return rs }
	auth, err := publisher.NewAuth([]byte("secret"), nil, false)
	if err != nil {
		b.Fatal(err)
	}
	met := metrics.New()
	pub := publisher.New(publisher.Options{Auth: auth, Observer: met}, log)
	core := presence.New(presence.Options{Roster: roster.New(st), Rooms: current,
		Sinks: []presence.Sink{pub}, Local: pub, Observer: met, Log: log})
	pub.Serve(core)
	defer pub.Close()
	hooks := webhook.New(webhook.Options{PublicURL: benchURL, AuthToken: benchToken}, core, current, met, log)
	h := defaultLimits.webhookBody(hooks, webhook.MaxBody, met)

	const batch = 256 // dial-ins signed ahead, outside the timer
	var user, sys time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(batch, b.N-done)
		reqs := make([][]*http.Request, n)
		for i := range reqs {
			reqs[i] = dialIn(done + i)
			for _, r := range reqs[i][:from] {
				answer(b, h, r)
			}
		}
		b.StartTimer()
		u0, s0 := processCPU()
		for _, dial := range reqs {
			for _, r := range dial[from:to] {
				if pace > 0 {
					time.Sleep(pace)
				}
				answer(b, h, r)
			}
		}
		u1, s1 := processCPU()
		user, sys = user+u1-u0, sys+s1-s0
		done += n
	}
	b.ReportMetric(float64((user+sys).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(user.Nanoseconds())/float64(b.N), "user-ns/op")
	b.ReportMetric(float64(sys.Nanoseconds())/float64(b.N), "sys-ns/op")
}

// answer has h answer r, and fails the benchmark unless it answers 200 or 204.
func answer(b *testing.B, h http.Handler, r *http.Request) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK && w.Code != http.StatusNoContent {
		b.Fatalf("%s: %d %s", r.URL.Path, w.Code, w.Body)
	}
}

// dialIn is the four signed webhooks of dial-in n, in the order of dialInSteps.
func dialIn(n int) []*http.Request {
	sid, conf := twiliotest.CallSID(n+1), twiliotest.ConfSID(n+1)
	return []*http.Request{
		signedPost(webhook.PathVoice, twiliotest.Voice(sid, twiliotest.From, benchTo)),
		signedPost(webhook.PathConference, twiliotest.Conference("participant-join", conf, benchTopic, 1, sid)),
		signedPost(webhook.PathConference, twiliotest.Conference("participant-leave", conf, benchTopic, 2, sid)),
		signedPost(webhook.PathStatus, twiliotest.Status(sid, "completed", 3)),
	}
}

func signedPost(path string, form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", twiliotest.Sign(benchToken, benchURL+path, form))
	return r.WithContext(context.Background())
}

// processCPU is the user and system CPU time the process has used.
func processCPU() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
