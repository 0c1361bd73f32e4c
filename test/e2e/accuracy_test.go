package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPresenceAccuracy: reconciliation counts what it corrects, and how long each error had
// lasted. A lost join (Twilio lists a participant it created 90 s ago whose join never
// arrived) is one missed, about 90 s old; a lost leave (Twilio stops listing a call the
// bridge last heard of 2 s before) is one ghost, about 2 s old, counted once however many
// reconciliations run after it.
func TestPresenceAccuracy(t *testing.T) {
	t.Parallel()
	twilio := newFakeTwilio(t)
	env := prodEnv(t, twilio)
	env["DIALIN_RECONCILE_INTERVAL"] = "300ms"
	b := startBridge(t, env)
	b.waitReady()
	c := subscriber(t, b, topicA, "websocket")
	conf := confSID(1)
	const (
		missed = `dialin_reconcile_corrections_total{kind="missed"}`
		ghost  = `dialin_reconcile_corrections_total{kind="ghost"}`
		count  = `dialin_reconcile_correction_age_seconds_count`
		sum    = `dialin_reconcile_correction_age_seconds_sum`
	)
	for _, s := range []string{missed, ghost, count} {
		if v, ok := metricOK(t, b, s); !ok || v != 0 {
			t.Fatalf("%s = %v (exported %v) before anything went wrong; want 0, exported", s, v, ok)
		}
	}

	// A lost join: the incoming call arrived, its participant-join did not.
	b.mustPost("/twilio/voice", voiceForm(callSID(1), knownCaller, numA), 200)
	twilio.setLive(conf, topicA, callSID(1))
	twilio.setCreated(conf, callSID(1), time.Now().Add(-90*time.Second))
	p := c.nextPresence()
	checkPhone(t, p, online, topicA, callSID(1), joined)
	if p.Sender.DisplayName != "John Smith" {
		t.Errorf("the missed party is named %q; want John Smith", p.Sender.DisplayName)
	}
	waitMetric(t, b, missed, 1)
	if v := metric(t, b, ghost); v != 0 {
		t.Errorf("%s = %v after a lost join; want 0", ghost, v)
	}
	if v := metric(t, b, count); v != 1 {
		t.Fatalf("%s = %v; want 1", count, v)
	}
	missedAge := metric(t, b, sum)
	if missedAge < 90 || missedAge > 95 {
		t.Errorf("the missed party's age is %v s; want about 90 (since Twilio created the participant)", missedAge)
	}
	if v := metric(t, b, `dialin_reconcile_correction_age_seconds_bucket{le="60"}`); v != 0 {
		t.Errorf("le=60 bucket %v; want 0", v)
	}
	if v := metric(t, b, `dialin_reconcile_correction_age_seconds_bucket{le="120"}`); v != 1 {
		t.Errorf("le=120 bucket %v; want 1", v)
	}

	// A lost leave: the bridge last heard of call 2 at its join, 2 s before Twilio stops
	// listing it.
	twilio.setLive(conf, topicA, callSID(2))
	b.dialIn(callSID(2), unknownCaller, numA, conf, topicA, 2)
	heard := time.Now()
	checkPhone(t, c.nextPresence(), online, topicA, callSID(2), joined)
	time.Sleep(2 * time.Second)
	c.expectNothing(quiet) // listed all along: nothing corrected
	if v := metric(t, b, count); v != 1 {
		t.Fatalf("%s = %v while Twilio and the bridge agree; want 1", count, v)
	}
	twilio.end(callSID(2))
	ended := time.Now()
	checkPhone(t, c.nextPresence(), leaves, topicA, callSID(2), gone)
	waitMetric(t, b, ghost, 1)
	time.Sleep(time.Second) // more reconciliations: the ghost is not counted again
	if v := metric(t, b, ghost); v != 1 {
		t.Errorf("%s = %v; want 1", ghost, v)
	}
	if v := metric(t, b, missed); v != 1 {
		t.Errorf("%s = %v; want 1", missed, v)
	}
	if v := metric(t, b, count); v != 2 {
		t.Fatalf("%s = %v; want 2", count, v)
	}
	age := metric(t, b, sum) - missedAge
	lo, hi := ended.Sub(heard).Seconds()-0.1, time.Since(heard).Seconds()
	if age < lo || age > hi {
		t.Errorf("the ghost's age is %.2f s; want between %.2f and %.2f (since the bridge last heard of the call)", age, lo, hi)
	}
}

// metricOK reads one sample from /metrics and says whether it is exported.
func metricOK(t *testing.T, b *bridge, sample string) (float64, bool) {
	t.Helper()
	if !strings.Contains(b.get("/metrics", "").Body, "\n"+sample+" ") {
		return 0, false
	}
	return metric(t, b, sample), true
}

// waitMetric waits up to eventWait for a sample of /metrics to reach want.
func waitMetric(t *testing.T, b *bridge, sample string, want float64) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		v := metric(t, b, sample)
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v; want %v", sample, v, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
