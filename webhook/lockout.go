package webhook

import (
	"context"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// PINGuard counts wrong PINs per caller number, across calls (and instances), and locks out a
// number that entered too many.
type PINGuard interface {
	// Locked reports whether number is locked out now.
	Locked(ctx context.Context, number string) (bool, error)
	// Wrong counts a wrong PIN from number: locked says whether the number is locked out
	// now, lockedNow whether this PIN locked it (on one instance only).
	Wrong(ctx context.Context, number string) (locked, lockedNow bool, err error)
}

// LockoutObserver is told of each lockout, for metrics.
type LockoutObserver interface {
	PINLockout()
}

const sayLockedOut = "Too many wrong PINs. Please try again later."

// guarded reports whether the guard applies to a caller: withheld numbers are never locked
// out as a group (they keep the three tries per call).
func (h *Handler) guarded(from string) bool {
	return h.opts.PINs != nil && mapper.IsE164(from)
}

// lockedOut reports whether the caller's number is locked out. A guard that cannot answer
// lets the caller try: the three tries per call still hold.
func (h *Handler) lockedOut(req request, from string) bool {
	if !h.guarded(from) {
		return false
	}
	locked, err := h.opts.PINs.Locked(req.ctx, from)
	if err != nil {
		req.log.Warn("PIN lockout not checked", "err", err)
		return false
	}
	if locked {
		req.log.Info("caller locked out of PIN entry", "from", mapper.Mask(from))
	}
	return locked
}

// wrongPIN counts a wrong PIN and reports whether it locked the caller out.
func (h *Handler) wrongPIN(req request, from string) bool {
	if !h.guarded(from) {
		return false
	}
	locked, lockedNow, err := h.opts.PINs.Wrong(req.ctx, from)
	if err != nil {
		req.log.Warn("wrong PIN not counted", "err", err)
		return false
	}
	if lockedNow {
		req.log.Warn("caller locked out after too many wrong PINs", "from", mapper.Mask(from))
		if h.opts.Lockouts != nil {
			h.opts.Lockouts.PINLockout()
		}
	}
	return locked
}

// LockoutTwiML is what a locked-out caller hears, before any <Gather>.
func (h *Handler) LockoutTwiML() (string, error) { return h.goodbyeTwiML(sayLockedOut) }
