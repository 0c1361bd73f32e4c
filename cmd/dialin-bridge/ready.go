package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dialin-bridge/dialin-bridge/metrics"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// readyEvery is how often readiness is checked for the dialin_ready gauge when nobody asks
// /readyz, so that an alert on the gauge needs no prober.
const readyEvery = 5 * time.Second

// readiness answers /readyz (contract §4, §8): ready once the store, the fan-out between
// instances and the platform's Redis answer and the first reconciliation ran. Each check
// also sets the dialin_ready gauge.
type readiness struct {
	store roster.Store
	pub   *publisher.Server
	plat  *platformMode
	core  *presence.Core
	met   *metrics.Metrics
}

// check reports why the bridge is not ready, or nil.
func (r *readiness) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := r.checkAll(ctx)
	r.met.Ready(err == nil)
	return err
}

func (r *readiness) checkAll(ctx context.Context) error {
	if err := r.store.Ping(ctx); err != nil {
		return fmt.Errorf("store not ready: %w", err)
	}
	if err := r.pub.Ready(ctx); err != nil {
		return fmt.Errorf("events not ready: %w", err)
	}
	if err := r.plat.ready(ctx); err != nil {
		return err
	}
	if !r.core.Reconciled() {
		return errors.New("first reconciliation not done")
	}
	return nil
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if err := r.check(req.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// run keeps the gauge current until ctx is done.
func (r *readiness) run(ctx context.Context) {
	tick := time.NewTicker(readyEvery)
	defer tick.Stop()
	for {
		r.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
