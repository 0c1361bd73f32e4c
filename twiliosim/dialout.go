package twiliosim

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// createParticipant is POST Conferences/{Sid or FriendlyName}/Participants.json: a dial-out
// into the conference, started by its friendly name if it is not running. The call rings
// (status callbacks initiated and ringing if asked for) and then does what its Outcome says.
func (s *Sim) createParticipant(w http.ResponseWriter, r *http.Request, nameOrSID string) {
	f := r.PostForm
	from, to := f.Get("From"), f.Get("To")
	switch {
	case from == "" || to == "":
		writeError(w, &Error{Status: 400, Code: 21604, Message: "A 'From' and a 'To' phone number are required."})
		return
	case !e164.MatchString(to):
		writeError(w, &Error{Status: 400, Code: 21211, Message: "Invalid 'To' Phone Number: " + to})
		return
	case !e164.MatchString(from):
		writeError(w, &Error{Status: 400, Code: 21212, Message: "Invalid 'From' Phone Number: " + from})
		return
	}
	timeout := 60
	if v := f.Get("Timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 600 {
			writeError(w, &Error{Status: 400, Code: 21230, Message: "Timeout must be between 5 and 600"})
			return
		}
		timeout = n
	}
	events := map[string]bool{"completed": true}
	if vs := f["StatusCallbackEvent"]; len(vs) > 0 {
		events = map[string]bool{}
		for _, v := range vs {
			for _, ev := range strings.Fields(v) {
				events[ev] = true
			}
		}
	}
	confEvents := strings.Join(f["ConferenceStatusCallbackEvent"], " ")

	s.mu.Lock()
	defer s.mu.Unlock()
	var cf *conference
	if strings.HasPrefix(nameOrSID, "CF") && len(nameOrSID) == 34 {
		cf = s.confs[nameOrSID]
		if cf == nil || cf.status == "completed" {
			notFound(w, r)
			return
		}
	} else {
		cf = s.conferenceNamed(nameOrSID)
	}
	c := &call{sid: s.newSID("CA"), from: from, to: to, direction: "outbound-api", status: "queued",
		statusURL: f.Get("StatusCallback"), events: events, created: time.Now(),
		timeout: time.Duration(timeout) * time.Second}
	s.calls[c.sid] = c
	p := s.enter(c, cf, conferenceSettings{
		url:     f.Get("ConferenceStatusCallback"),
		events:  confEvents,
		start:   f.Get("StartConferenceOnEnter") != "false",
		endExit: f.Get("EndConferenceOnExit") == "true",
		muted:   f.Get("Muted") == "true",
	}, "queued")
	p.label = f.Get("Label")
	writeJSON(w, http.StatusCreated, s.participantJSON(cf, p))

	// What Twilio does next, after it has answered.
	s.setStatus(c, "initiated")
	s.setStatus(c, "ringing")
	p.status = "ringing"
	o, ok := s.outcomes[to]
	if !ok {
		o = s.opts.DefaultOutcome
	}
	sid := c.sid
	switch o.Result {
	case "ring":
		s.after(c.timeout, func() { s.Reject(sid, "no-answer") })
	case "answer":
		s.after(o.After, func() { s.Answer(sid) })
	default:
		result := o.Result
		s.after(o.After, func() { s.Reject(sid, result) })
	}
}

// Answer makes a ringing dial-out answer: its status callback says so (answered) and it
// joins its conference.
func (s *Sim) Answer(sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sid]
	if c == nil || c.direction != "outbound-api" || c.status != "ringing" {
		return fmt.Errorf("%w: %s is not ringing", ErrNoCall, sid)
	}
	s.setStatus(c, "in-progress")
	if cf := c.conf; cf != nil && cf.parts[sid] != nil {
		s.connect(cf, cf.parts[sid])
	}
	return nil
}

// Reject makes a ringing dial-out end without connecting, with status busy, no-answer,
// failed or canceled: it leaves its conference (participant_add_failed) and its status
// callback says why.
func (s *Sim) Reject(sid, status string) error {
	switch status {
	case "busy", "no-answer", "failed", "canceled":
	default:
		return fmt.Errorf("twiliosim: %q is not a status a ringing call can end with", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sid]
	if c == nil || c.direction != "outbound-api" || c.status != "ringing" {
		return fmt.Errorf("%w: %s is not ringing", ErrNoCall, sid)
	}
	s.endCall(c, status, "participant_add_failed")
	return nil
}
