package metrics

import "github.com/prometheus/client_golang/prometheus"

// Platform holds the metrics of platform mode (publishing into the room platform's own
// socket.io cluster). It implements platform.Observer.
type Platform struct {
	published *prometheus.CounterVec
	answered  *prometheus.CounterVec
	ignored   *prometheus.CounterVec
	lost      *prometheus.CounterVec
	up        prometheus.Gauge
}

// Platform registers the metrics of platform mode.
func (m *Metrics) Platform() *Platform {
	p := &Platform{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_platform_published_total", Help: "Presence events published into the platform's rooms, by kind: event (a change this instance made), answer (to a request.parties), replay (after an outage).",
		}, []string{"kind"}),
		answered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_platform_answered_total", Help: "Requests the platform broadcast that this instance answered, by request: parties, removal.",
		}, []string{"request"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_platform_ignored_total", Help: "Platform broadcasts ignored, by reason: malformed, too_large, bridge (another instance's event), other_event, category, room, busy, removals_off, unknown_party, other_instance (answered by another instance).",
		}, []string{"reason"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialin_platform_lost_total", Help: "Events or answers that did not reach the platform, by reason: down, error, queue, claim, roster, removal. Parties are published again when the platform's Redis answers.",
		}, []string{"reason"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialin_platform_up", Help: "1 while the platform's Redis answers.",
		}),
	}
	m.reg.MustRegister(p.published, p.answered, p.ignored, p.lost, p.up)
	// Exported at 0 from the start, so that rates and alerts on them work before the first loss.
	for _, reason := range []string{"down", "error", "queue", "claim", "roster", "removal"} {
		p.lost.WithLabelValues(reason)
	}
	return p
}

// Published counts an event published into the platform.
func (p *Platform) Published(kind string) { p.published.WithLabelValues(kind).Inc() }

// Answered counts a platform request answered.
func (p *Platform) Answered(request string) { p.answered.WithLabelValues(request).Inc() }

// Ignored counts a platform broadcast ignored.
func (p *Platform) Ignored(reason string) { p.ignored.WithLabelValues(reason).Inc() }

// Lost counts an event or answer that did not reach the platform.
func (p *Platform) Lost(reason string) { p.lost.WithLabelValues(reason).Inc() }

// Up sets whether the platform's Redis answers.
func (p *Platform) Up(up bool) {
	if up {
		p.up.Set(1)
	} else {
		p.up.Set(0)
	}
}
