// Command bench is dialin-bridge's load tool. Against a running bridge it drives N dial-ins
// at a chosen concurrency (a signed /twilio/voice, then participant-join, later
// participant-leave) while S real socket.io-client 2.x subscribers (node, subscribers.js)
// receive the events, and reports throughput, webhook and end-to-end latency (to the last
// subscriber, and to the first), lost events, and the bridge's resident memory per online
// call and CPU per dial-in (both from its /metrics).
//
//	go run ./bench -url http://127.0.0.1:8080 -calls 2000 -concurrency 32 -subscribers 20
//
// By default it sends as fast as -concurrency allows; -rate paces the dial-ins instead, to
// measure latency at a given load. It prints a readable summary and one JSON line. With
// -fail-on-loss it exits 1 when any event was lost, never for timing.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"
)

type options struct {
	url         string
	subURL      string // where the subscribers connect: the bridge, or a platform node
	publicURL   string
	authToken   string
	jwtSecret   string
	topic       string
	calls       int
	concurrency int
	rate        float64
	subscribers int
	procs       int
	settle      time.Duration
	failOnLoss  bool
	hold        bool
}

func main() { os.Exit(run()) }

func run() int {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the bridge's base URL")
	flag.StringVar(&o.subURL, "subscribe-url", "", "where the subscribers connect (default: -url); a node of the room platform for a platform-mode run")
	flag.StringVar(&o.publicURL, "public-url", "", "the bridge's DIALIN_PUBLIC_URL, for signatures (default: -url)")
	flag.StringVar(&o.authToken, "auth-token", os.Getenv("TWILIO_AUTH_TOKEN"), "Twilio auth token to sign webhooks with (empty: unsigned, for dev mode)")
	flag.StringVar(&o.jwtSecret, "jwt-secret", os.Getenv("DIALIN_JWT_SECRET"), "HS256 secret to mint subscriber tokens (empty: no token, for dev mode)")
	flag.StringVar(&o.topic, "topic", "5a1339868509b80641a56655", "topic id (routed by SIP header; must be in the rooms file)")
	flag.IntVar(&o.calls, "calls", 2000, "number of dial-ins")
	flag.IntVar(&o.concurrency, "concurrency", 32, "webhooks in flight")
	flag.Float64Var(&o.rate, "rate", 0, "dial-ins started per second, at most -concurrency at a time (0: as fast as -concurrency allows)")
	flag.IntVar(&o.subscribers, "subscribers", 20, "socket.io subscribers on the topic")
	flag.IntVar(&o.procs, "subscriber-procs", 1, "node processes the subscribers are spread over")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "how long to wait for events to arrive after each phase")
	flag.BoolVar(&o.failOnLoss, "fail-on-loss", false, "exit 1 if any event is lost")
	flag.BoolVar(&o.hold, "hold-online", false, "stop after the joins (leave all calls online), to measure many calls at once")
	flag.Parse()
	if o.publicURL == "" {
		o.publicURL = o.url
	}
	o.url = strings.TrimRight(o.url, "/")
	if o.subURL == "" {
		o.subURL = o.url
	}
	o.publicURL = strings.TrimRight(o.publicURL, "/")
	rep, err := load(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	rep.print(os.Stdout)
	if o.failOnLoss && rep.Lost > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d events lost\n", rep.Lost)
		return 1
	}
	return 0
}

// report is what one run measured.
type report struct {
	Calls          int     `json:"calls"`
	Concurrency    int     `json:"concurrency"`
	Rate           float64 `json:"rate,omitempty"`
	LateStarts     int64   `json:"late_starts,omitempty"`
	Subscribers    int     `json:"subscribers"`
	NodeProcs      int     `json:"subscriber_procs"`
	JoinsPerSec    float64 `json:"join_calls_per_sec"`
	LeavesPerSec   float64 `json:"leave_calls_per_sec"`
	WebhookP50ms   float64 `json:"webhook_p50_ms"`
	WebhookP99ms   float64 `json:"webhook_p99_ms"`
	E2EJoinP50ms   float64 `json:"e2e_join_p50_ms"`
	E2EJoinP99ms   float64 `json:"e2e_join_p99_ms"`
	FirstJoinP50ms float64 `json:"e2e_join_first_p50_ms"`
	FirstJoinP99ms float64 `json:"e2e_join_first_p99_ms"`
	E2ELeaveP50ms  float64 `json:"e2e_leave_p50_ms"`
	E2ELeaveP99ms  float64 `json:"e2e_leave_p99_ms"`
	Expected       int     `json:"events_expected"`
	Delivered      int     `json:"events_delivered"`
	Lost           int     `json:"events_lost"`
	Duplicated     int     `json:"events_duplicated"`
	WebhookErrors  int64   `json:"webhook_errors"`
	RSSBaseBytes   float64 `json:"rss_base_bytes"`
	RSSOnlineBytes float64 `json:"rss_online_bytes"`
	BytesPerCall   float64 `json:"rss_bytes_per_online_call"`
	CPUPerJoinUs   float64 `json:"bridge_cpu_us_per_join"`
	CPUPerDialInUs float64 `json:"bridge_cpu_us_per_dialin"`
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "dial-ins %d, concurrency %d, subscribers %d in %d node process(es)", r.Calls, r.Concurrency, r.Subscribers, r.NodeProcs)
	if r.Rate > 0 {
		fmt.Fprintf(w, ", paced at %.0f dial-ins/s (%d started late: all %d in flight)", r.Rate, r.LateStarts, r.Concurrency)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  joins:  %.0f calls/s (voice + join each)   leaves: %.0f calls/s\n", r.JoinsPerSec, r.LeavesPerSec)
	fmt.Fprintf(w, "  webhook latency:  p50 %.2f ms  p99 %.2f ms  (%d errors)\n", r.WebhookP50ms, r.WebhookP99ms, r.WebhookErrors)
	fmt.Fprintf(w, "  end-to-end join:  p50 %.2f ms  p99 %.2f ms  (first subscriber: p50 %.2f ms  p99 %.2f ms)\n",
		r.E2EJoinP50ms, r.E2EJoinP99ms, r.FirstJoinP50ms, r.FirstJoinP99ms)
	fmt.Fprintf(w, "  end-to-end leave: p50 %.2f ms  p99 %.2f ms\n", r.E2ELeaveP50ms, r.E2ELeaveP99ms)
	if r.CPUPerJoinUs > 0 {
		fmt.Fprintf(w, "  bridge CPU: %.0f µs per dial-in joined (its two webhooks and its event to every subscriber)\n", r.CPUPerJoinUs)
	}
	if r.CPUPerDialInUs > 0 {
		fmt.Fprintf(w, "  bridge CPU: %.0f µs per whole dial-in (voice, join, leave and completed webhooks, two events to every subscriber)\n", r.CPUPerDialInUs)
	}
	fmt.Fprintf(w, "  events: %d expected, %d delivered, %d lost, %d duplicated\n", r.Expected, r.Delivered, r.Lost, r.Duplicated)
	if r.RSSOnlineBytes > 0 {
		fmt.Fprintf(w, "  bridge RSS: %.1f MiB idle, %.1f MiB with all online: %.0f bytes per online call\n",
			r.RSSBaseBytes/(1<<20), r.RSSOnlineBytes/(1<<20), r.BytesPerCall)
	}
	b, _ := json.Marshal(r)
	fmt.Fprintln(w, string(b))
}

func load(o options) (report, error) {
	rep := report{Calls: o.calls, Concurrency: o.concurrency, Rate: o.rate, Subscribers: o.subscribers,
		NodeProcs: max(1, min(o.procs, o.subscribers))}
	client := &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency * 2, MaxConnsPerHost: o.concurrency * 2},
	}
	subs, err := startSubscribers(o)
	if err != nil {
		return rep, err
	}
	defer subs.close()

	// A first scrape allocates what every scrape uses (the registry's buffers), so that the
	// base reading holds it too.
	bridgeMetric(client, o.url, "process_resident_memory_bytes")
	rep.RSSBaseBytes, _ = bridgeMetric(client, o.url, "process_resident_memory_bytes")
	cpuBefore, cpuErr := bridgeMetric(client, o.url, "process_cpu_seconds_total")
	runID := make([]byte, 6)
	rand.Read(runID)
	sids := make([]string, o.calls)
	for i := range sids {
		sids[i] = fmt.Sprintf("CA%s%020d", hex.EncodeToString(runID), i)
	}
	conf := "CF" + hex.EncodeToString(runID) + strings.Repeat("0", 20)
	var seq, failures atomic.Int64
	defer func() { rep.WebhookErrors = failures.Load() }()
	lat := &latencies{}
	sent := make([]int64, o.calls) // when each call's join (or leave) was sent, µs

	post := func(path string, form url.Values) error {
		start := time.Now()
		err := postSigned(client, o, path, form)
		lat.add(time.Since(start))
		if err != nil {
			failures.Add(1)
		}
		return err
	}
	joinStart := time.Now()
	rep.LateStarts += parallel(o.calls, o.concurrency, o.rate, func(i int) {
		sid := sids[i]
		voice := twiliotest.Voice(sid, fmt.Sprintf("+1415555%04d", i%10000), "+15005550006", "SipHeader_X-Topic-Id", o.topic)
		if post("/twilio/voice", voice) != nil {
			return
		}
		sent[i] = time.Now().UnixMicro()
		post("/twilio/conference", participant(conf, o.topic, sid, "participant-join", seq.Add(1)))
	})
	rep.JoinsPerSec = float64(o.calls) / time.Since(joinStart).Seconds()
	joined, err := subs.waitFor(sids, "app.event.presence.party.online", o.settle)
	if err != nil {
		return rep, err
	}
	rep.E2EJoinP50ms, rep.E2EJoinP99ms = e2e(sids, sent, joined, "app.event.presence.party.online", false)
	rep.FirstJoinP50ms, rep.FirstJoinP99ms = e2e(sids, sent, joined, "app.event.presence.party.online", true)
	if cpuAfter, err := bridgeMetric(client, o.url, "process_cpu_seconds_total"); err == nil && cpuErr == nil {
		rep.CPUPerJoinUs = (cpuAfter - cpuBefore) * 1e6 / float64(o.calls)
	}
	rep.RSSOnlineBytes, _ = bridgeMetric(client, o.url, "process_resident_memory_bytes")
	if rep.RSSOnlineBytes > rep.RSSBaseBytes {
		rep.BytesPerCall = (rep.RSSOnlineBytes - rep.RSSBaseBytes) / float64(o.calls)
	}
	final := joined
	if !o.hold {
		leaveStart := time.Now()
		rep.LateStarts += parallel(o.calls, o.concurrency, o.rate, func(i int) {
			sent[i] = time.Now().UnixMicro()
			if post("/twilio/conference", participant(conf, o.topic, sids[i], "participant-leave", seq.Add(1))) != nil {
				return
			}
			post("/twilio/status", twiliotest.Status(sids[i], "completed", 1))
		})
		rep.LeavesPerSec = float64(o.calls) / time.Since(leaveStart).Seconds()
		left, err := subs.waitFor(sids, "app.event.presence.party.leaves", o.settle)
		if err != nil {
			return rep, err
		}
		rep.E2ELeaveP50ms, rep.E2ELeaveP99ms = e2e(sids, sent, left, "app.event.presence.party.leaves", false)
		final = left
		if cpuAfter, err := bridgeMetric(client, o.url, "process_cpu_seconds_total"); err == nil && cpuErr == nil {
			rep.CPUPerDialInUs = (cpuAfter - cpuBefore) * 1e6 / float64(o.calls)
		}
	}
	rep.WebhookP50ms, rep.WebhookP99ms = lat.percentiles()
	categories := []string{"app.event.presence.party.online"}
	if !o.hold {
		categories = append(categories, "app.event.presence.party.leaves")
	}
	for _, sid := range sids {
		for _, cat := range categories {
			rep.Expected += o.subscribers
			n := final[sid+" "+cat].count
			rep.Delivered += min(n, o.subscribers)
			rep.Lost += max(o.subscribers-n, 0)
			rep.Duplicated += max(n-o.subscribers, 0)
		}
	}
	return rep, nil
}

func participant(conf, topic, sid, event string, seq int64) url.Values {
	return twiliotest.Conference(event, conf, topic, int(seq), sid)
}

func postSigned(client *http.Client, o options, path string, form url.Values) error {
	req, err := http.NewRequest(http.MethodPost, o.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if o.authToken != "" {
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(o.authToken, o.publicURL+path, form))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}

// parallel runs fn for 0..n-1 on workers goroutines. With a rate, call i starts no sooner
// than i/rate seconds in; it returns how many started more than a millisecond late because
// every worker was busy.
func parallel(n, workers int, rate float64, fn func(i int)) (late int64) {
	var next, lateN atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if rate > 0 {
					due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					} else if wait < -time.Millisecond {
						lateN.Add(1)
					}
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	return lateN.Load()
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) percentiles() (p50, p99 float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := make([]float64, len(l.d))
	for i, d := range l.d {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	return percentile(ms, 50), percentile(ms, 99)
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(float64(len(v)-1) * p / 100)
	return v[i]
}

// e2e is the latency from sending a call's webhook until the last subscriber had its event
// (or, with first, the first one).
func e2e(sids []string, sent []int64, got map[string]arrival, category string, first bool) (p50, p99 float64) {
	var ms []float64
	for i, sid := range sids {
		a, ok := got[sid+" "+category]
		if !ok || sent[i] == 0 {
			continue
		}
		at := a.last
		if first {
			at = a.first
		}
		ms = append(ms, float64(at-sent[i])/1000)
	}
	return percentile(ms, 50), percentile(ms, 99)
}

// bridgeMetric reads one of the bridge's process metrics (process_resident_memory_bytes,
// process_cpu_seconds_total) from its /metrics.
func bridgeMetric(client *http.Client, base, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	// Uncompressed: a compressed scrape has the server allocate a gzip encoder (about 1 MB,
	// kept in a pool) after it read its own memory, which the next reading would count as
	// memory of the calls.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}
