package metrics

import "github.com/prometheus/client_golang/prometheus"

// Callers holds the metrics of what callers hear (contract §7). It implements
// webhook.LockoutObserver.
type Callers struct {
	lockouts prometheus.Counter
}

// Callers registers the metrics of what callers hear.
func (m *Metrics) Callers() *Callers {
	c := &Callers{
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialin_pin_lockouts_total", Help: "Caller numbers locked out after too many wrong PINs (10 within 15 minutes locks a number out for 15 minutes).",
		}),
	}
	m.reg.MustRegister(c.lockouts)
	return c
}

// PINLockout counts a number locked out.
func (c *Callers) PINLockout() { c.lockouts.Inc() }
