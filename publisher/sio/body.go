package sio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// checkPollingBody reads a polling body, capped whatever its type, and puts back the checked
// text payload. A session that has not joined the namespace may send MaxPreJoin bytes, one
// that has MaxMessage; the body must arrive whole within BodyTimeout of its headers. It
// answers a refusal itself and reports false.
func (s *Server) checkPollingBody(w http.ResponseWriter, r *http.Request, c *Conn) bool {
	limit := int64(s.opts.MaxMessage)
	if !c.mayJoin() {
		limit = int64(s.opts.MaxPreJoin)
	}
	if r.ContentLength > limit {
		s.refused("size")
		refuseUnread(w, r, http.StatusRequestEntityTooLarge, "payload too large")
		return false
	}
	rc := http.NewResponseController(w)
	timed := rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if timed {
		// The body is read (or broken): no deadline may cut what follows on the connection.
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			s.refused("size")
			refuseUnread(w, r, http.StatusRequestEntityTooLarge, "payload too large")
		case isTimeout(err):
			s.refused("body_timeout")
			refuseUnread(w, r, http.StatusRequestTimeout, fmt.Sprintf("payload not received within %v", s.opts.BodyTimeout))
		default:
			refuseUnread(w, r, http.StatusBadRequest, "could not read the payload")
		}
		return false
	}
	payload, err := canonicalPayload(body, isBinaryPayload(r.Header.Get("Content-Type")))
	if err != nil {
		reason := "packet"
		if errors.Is(err, ErrBinary) {
			reason = "binary"
		}
		s.refused(reason)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	r.Body = io.NopCloser(strings.NewReader(string(payload)))
	r.ContentLength = int64(len(payload))
	r.Header.Set("Content-Length", strconv.Itoa(len(payload)))
	r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	return true
}

// refuseUnread answers a request whose body is not read whole. What may follow of the body
// is not waited for: net/http would otherwise read up to 256 KiB of it, with no deadline,
// after the answer. The connection closes after the answer.
func refuseUnread(w http.ResponseWriter, r *http.Request, code int, reason string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	http.Error(w, reason, code)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
