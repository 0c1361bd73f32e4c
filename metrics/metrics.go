// Package metrics exposes the bridge's Prometheus metrics. No label ever carries a phone
// number, a call SID or a token: only endpoints, results and categories from fixed sets.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the bridge's collectors. It implements the webhook and publisher observers.
type Metrics struct {
	reg           *prometheus.Registry
	webhooks      *prometheus.CounterVec
	signatureFail prometheus.Counter
	latency       *prometheus.HistogramVec
	emitted       *prometheus.CounterVec
	sessions      prometheus.Gauge
	connections   prometheus.Gauge
	subscriptions prometheus.Gauge
	refused       *prometheus.CounterVec
	rest          *prometheus.CounterVec
	reconciles    *prometheus.CounterVec
	reconEnded    prometheus.Counter
	httpTimeouts  *prometheus.CounterVec
	online        prometheus.Gauge
	ready         prometheus.Gauge
	corrections   *prometheus.CounterVec
	correctionAge prometheus.Histogram
	moderation    *prometheus.CounterVec
	fanoutDropped *prometheus.CounterVec
	caughtUp      prometheus.Counter
}

// New registers the bridge's metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_webhooks_total", Help: "Twilio webhooks by endpoint and result.",
		}, []string{"endpoint", "result"}),
		signatureFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialin_webhook_signature_failures_total", Help: "Webhooks refused for a missing or wrong X-Twilio-Signature.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dialin_webhook_duration_seconds",
			Help:    "Time to answer a Twilio webhook.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"endpoint"}),
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_events_emitted_total", Help: "Presence events emitted for phone parties, by category.",
		}, []string{"category"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialin_socket_sessions", Help: "Engine.IO sessions open on this instance, joined to /chat or not.",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialin_socket_connections", Help: "Room clients connected to this instance.",
		}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialin_socket_subscriptions", Help: "Topic subscriptions of room clients on this instance.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_room_requests_refused_total", Help: "Room-side requests refused, by kind: token, subscribe, presence, api; and on the socket: origin, size, binary, packet, namespace, jsonp, queue (a client too far behind), join_timeout.",
		}, []string{"kind"}),
		rest: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_twilio_rest_calls_total", Help: "Twilio REST API calls by operation and result.",
		}, []string{"operation", "result"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_reconciliations_total", Help: "Roster reconciliations with Twilio, by result.",
		}, []string{"result"}),
		reconEnded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialin_reconciliation_ended_calls_total", Help: "Calls ended by reconciliation because Twilio no longer listed them, and parties retracted from this instance's clients after the store lost them.",
		}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialin_phone_parties_online",
			Help: "Phone parties online in all topics, as this instance knows them without asking the store on each scrape: " +
				"counted from the store at each reconciliation and followed change by change in between. " +
				"Exact with one instance (bolt, memory). With several (Redis), changes other instances apply show at this one's next reconciliation, " +
				"so every instance reports about the cluster's total: aggregate with max(), not sum().",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialin_ready", Help: "1 while /readyz would answer 200: the store, the fan-out and the platform's Redis answer and the first reconciliation ran; checked every 5 s and at each /readyz.",
		}),
		corrections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_reconcile_corrections_total",
			Help: "What reconciliation had to correct, by kind: ghost (shown online, gone from Twilio), missed (in Twilio's conference, not shown).",
		}, []string{"kind"}),
		correctionAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dialin_reconcile_correction_age_seconds",
			Help: "How long each presence error reconciliation corrected had been wrong, as far as the bridge can tell: " +
				"for a missed party since Twilio created the participant, for a ghost since the bridge last heard of the call.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600},
		}),
		moderation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_moderation_actions_total",
			Help: "Admins' actions on phone parties (mute, unmute, hold, unhold, remove, mute-all, dial-out, admit, deny; update for a PATCH refused before its body was read), by result.",
		}, []string{"action", "result"}),
		fanoutDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_fanout_dropped_total",
			Help: "Events this instance could not send to the other instances, by reason: queue (the fan-out was too far behind) or error (the PUBLISH failed). " +
				"The other instances' clients get them at their next catch-up from the store (dialin_fanout_caught_up_total), within one reconciliation interval.",
		}, []string{"reason"}),
		caughtUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialin_fanout_caught_up_total",
			Help: "Events this instance's clients had missed (the fan-out between instances lost or dropped them) and were shown from the store.",
		}),
		httpTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_http_timeouts_total", Help: "HTTP requests and connections cut by a time limit: header, body (webhook) or idle (keep-alive).",
		}, []string{"limit"}),
	}
	m.reg.MustRegister(m.webhooks, m.signatureFail, m.latency, m.emitted, m.sessions, m.connections,
		m.subscriptions, m.refused, m.rest, m.reconciles, m.reconEnded, m.httpTimeouts, m.online, m.fanoutDropped, m.caughtUp, m.moderation,
		m.ready, m.corrections, m.correctionAge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series of fixed label sets are exported from the start, at 0, so that rates and alerts
	// on them work before the first event.
	for _, kind := range []string{"ghost", "missed"} {
		m.corrections.WithLabelValues(kind)
	}
	for _, result := range []string{"ok", "error"} {
		m.reconciles.WithLabelValues(result)
	}
	for _, limit := range []string{"header", "body", "idle"} {
		m.httpTimeouts.WithLabelValues(limit)
	}
	return m
}

// Handler serves the metrics in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Webhook records a webhook's result and latency.
func (m *Metrics) Webhook(endpoint, result string, took time.Duration) {
	m.webhooks.WithLabelValues(endpoint, result).Inc()
	m.latency.WithLabelValues(endpoint).Observe(took.Seconds())
	if result == "bad_signature" {
		m.signatureFail.Inc()
	}
}

// Online sets the number of phone parties online.
func (m *Metrics) Online(n int) { m.online.Set(float64(n)) }

// Emitted counts a presence event.
func (m *Metrics) Emitted(category string) { m.emitted.WithLabelValues(category).Inc() }

// Sessions moves the Engine.IO session gauge.
func (m *Metrics) Sessions(delta int) { m.sessions.Add(float64(delta)) }

// Connected moves the connection gauge.
func (m *Metrics) Connected(delta int) { m.connections.Add(float64(delta)) }

// Subscribed moves the subscription gauge.
func (m *Metrics) Subscribed(delta int) { m.subscriptions.Add(float64(delta)) }

// Refused counts a refused room-side request.
func (m *Metrics) Refused(kind string) { m.refused.WithLabelValues(kind).Inc() }

// REST counts a Twilio REST call.
func (m *Metrics) REST(operation string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.rest.WithLabelValues(operation, result).Inc()
}

// Reconciled counts a reconciliation run and the calls it ended.
func (m *Metrics) Reconciled(ended int, err error) {
	if err != nil {
		m.reconciles.WithLabelValues("error").Inc()
		return
	}
	m.reconciles.WithLabelValues("ok").Inc()
	m.reconEnded.Add(float64(ended))
}

// Corrected counts a presence error reconciliation corrected, and how long it had been
// wrong (negative: unknown, counted without an age).
func (m *Metrics) Corrected(kind string, age time.Duration) {
	m.corrections.WithLabelValues(kind).Inc()
	if age >= 0 {
		m.correctionAge.Observe(age.Seconds())
	}
}

// Ready sets the readiness gauge.
func (m *Metrics) Ready(ok bool) {
	if ok {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}

// FanoutDropped counts an event that did not reach the other instances.
func (m *Metrics) FanoutDropped(reason string) { m.fanoutDropped.WithLabelValues(reason).Inc() }

// CaughtUp counts events this instance's clients were shown from the store, having missed them.
func (m *Metrics) CaughtUp(n int) { m.caughtUp.Add(float64(n)) }

// HTTPTimeout counts a request or connection cut by an HTTP time limit.
func (m *Metrics) HTTPTimeout(limit string) { m.httpTimeouts.WithLabelValues(limit).Inc() }

// Moderation counts an admin's action on a phone party.
func (m *Metrics) Moderation(action, result string) {
	m.moderation.WithLabelValues(action, result).Inc()
}
