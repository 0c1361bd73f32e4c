package twiliosim

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"
)

// call is one call leg as Twilio keeps it.
type call struct {
	sid       string
	from, to  string
	direction string // "inbound" or "outbound-api"
	status    string // queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled
	statusURL string
	events    map[string]bool // call status callback events it asked for
	seq       int             // the next call status callback's SequenceNumber
	conf      *conference     // the conference it is in (or ringing into)
	gather    string          // the action URL of the <Gather> it waits in
	redirect  string          // the <Redirect> it waits to follow
	created   time.Time
	timeout   time.Duration // a dial-out's ring timeout
}

// final reports whether the call has ended.
func (c *call) final() bool {
	switch c.status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

// conference is one conference as Twilio keeps it.
type conference struct {
	sid, name string
	status    string // init, in-progress, completed
	url       string // its status callback, from its first participant
	events    map[string]bool
	seq       int // the last conference callback's SequenceNumber
	parts     map[string]*participant
	order     []string // call SIDs in the order they were added
	created   time.Time
	updated   time.Time
}

// participant is a call in a conference.
type participant struct {
	callSID string
	muted   bool
	hold    bool
	status  string // queued, ringing, connected
	label   string
	start   bool // startConferenceOnEnter
	endExit bool // endConferenceOnExit
	created time.Time
}

// conferenceSettings are what a <Conference> or a Participants create asks for.
type conferenceSettings struct {
	url     string
	events  string // short names: "start end join leave mute hold speaker"
	start   bool
	endExit bool
	muted   bool
}

// ErrNoCall marks a phone-side action on a call the Sim does not have, or that has ended.
var ErrNoCall = errors.New("no such call in progress")

// DialIn places an incoming call from from to the number to: the bridge's voice webhook is
// asked for TwiML, and the call does what it says. It returns the call's SID.
func (s *Sim) DialIn(ctx context.Context, from, to string) (string, error) {
	s.mu.Lock()
	c := &call{sid: s.newSID("CA"), from: from, to: to, direction: "inbound", status: "ringing",
		events: map[string]bool{"completed": true}, created: time.Now()}
	if s.bridge != "" {
		c.statusURL = s.bridge + StatusPath
	}
	s.calls[c.sid] = c
	u := s.bridge + VoicePath
	form := twiliotest.Voice(c.sid, from, to)
	s.mu.Unlock()
	return c.sid, s.webhook(ctx, c, u, form)
}

// Digits answers the <Gather> the call waits in with digits (the caller's keypad).
func (s *Sim) Digits(ctx context.Context, sid, digits string) error {
	s.mu.Lock()
	c := s.calls[sid]
	if c == nil || c.final() || c.gather == "" {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s waits for no digits", ErrNoCall, sid)
	}
	u := c.gather
	c.gather = ""
	form := s.voiceForm(c)
	form.Set("Digits", digits)
	form.Set("FinishedOnKey", "#")
	s.mu.Unlock()
	return s.webhook(ctx, c, u, form)
}

// FollowRedirect makes the call follow the <Redirect> it waits on now.
func (s *Sim) FollowRedirect(ctx context.Context, sid string) error {
	s.mu.Lock()
	c := s.calls[sid]
	if c == nil || c.final() || c.redirect == "" {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s waits on no redirect", ErrNoCall, sid)
	}
	u := c.redirect
	c.redirect = ""
	form := s.voiceForm(c)
	s.mu.Unlock()
	return s.webhook(ctx, c, u, form)
}

// voiceForm is the parameters of a voice webhook about c. The caller holds s.mu.
func (s *Sim) voiceForm(c *call) url.Values {
	f := twiliotest.Voice(c.sid, c.from, c.to, "CallStatus", c.status, "Direction", c.direction)
	return f
}

// webhook asks u what call c does next, and does it.
func (s *Sim) webhook(ctx context.Context, c *call, u string, form url.Values) error {
	x, err := s.fetchTwiML(ctx, u, form)
	if err != nil {
		// Twilio plays its "application error" message and hangs up.
		s.mu.Lock()
		s.endCall(c, "completed", "participant_hung_up")
		s.mu.Unlock()
		return err
	}
	return s.execute(c, x)
}

// Hangup is the caller hanging up: the call leaves its conference and completes. A
// dial-out still ringing is canceled.
func (s *Sim) Hangup(sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sid]
	if c == nil || c.final() {
		return fmt.Errorf("%w: %s", ErrNoCall, sid)
	}
	status := "completed"
	if c.status != "in-progress" {
		status = "canceled"
	}
	s.endCall(c, status, "participant_hung_up")
	return nil
}

// Speak makes a participant start (true) or stop talking: participant-speech-start or -stop,
// if its conference asked for the speaker event.
func (s *Sim) Speak(sid string, talking bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sid]
	if c == nil || c.final() || c.conf == nil || c.conf.parts[sid] == nil || c.conf.parts[sid].status != "connected" {
		return fmt.Errorf("%w: %s is in no conference", ErrNoCall, sid)
	}
	ev := "participant-speech-stop"
	if talking {
		ev = "participant-speech-start"
	}
	s.confEvent(c.conf, "speaker", ev, c.conf.parts[sid])
	return nil
}

// EndConference ends the conference of that friendly name (or SID) as the API would: every
// participant leaves (conference_ended_via_api) and its call completes, then the conference
// ends.
func (s *Sim) EndConference(nameOrSID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cf := s.findConference(nameOrSID)
	if cf == nil {
		return fmt.Errorf("%w: no conference %s in progress", ErrNoCall, nameOrSID)
	}
	s.endConference(cf, "conference-ended-via-api", "Conference ended via API", "conference_ended_via_api")
	return nil
}

// Conference returns the SID of the conference of that friendly name in progress (or
// starting), or "".
func (s *Sim) Conference(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cf := s.findConference(name); cf != nil {
		return cf.sid
	}
	return ""
}

// CallStatus returns a call's status ("" for none).
func (s *Sim) CallStatus(sid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.calls[sid]; c != nil {
		return c.status
	}
	return ""
}

// Participant returns a participant's muted and hold state and its status, and whether the
// call is a participant of a conference now.
func (s *Sim) Participant(sid string) (muted, hold bool, status string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sid]
	if c == nil || c.conf == nil || c.conf.parts[sid] == nil {
		return false, false, "", false
	}
	p := c.conf.parts[sid]
	return p.muted, p.hold, p.status, true
}

// findConference is the conference not completed with that SID or friendly name. The caller
// holds s.mu.
func (s *Sim) findConference(nameOrSID string) *conference {
	if cf := s.confs[nameOrSID]; cf != nil && cf.status != "completed" {
		return cf
	}
	for _, cf := range s.confs {
		if cf.name == nameOrSID && cf.status != "completed" {
			return cf
		}
	}
	return nil
}

// conferenceNamed returns the conference of that name not completed, creating it (status
// init) if there is none. The caller holds s.mu.
func (s *Sim) conferenceNamed(name string) *conference {
	if cf := s.findConference(name); cf != nil {
		return cf
	}
	now := time.Now()
	cf := &conference{sid: s.newSID("CF"), name: name, status: "init", parts: map[string]*participant{},
		created: now, updated: now}
	s.confs[cf.sid] = cf
	return cf
}

// enter adds call c to conference cf with the settings. The first participant's callback
// URL and events are the conference's; later ones' are ignored, as Twilio does. The caller
// holds s.mu.
func (s *Sim) enter(c *call, cf *conference, set conferenceSettings, status string) *participant {
	if len(cf.parts) == 0 && cf.url == "" && cf.seq == 0 {
		cf.url = set.url
		cf.events = map[string]bool{}
		for _, ev := range strings.FieldsFunc(set.events, func(r rune) bool { return r == ' ' || r == ',' }) {
			cf.events[ev] = true
		}
	}
	p := &participant{callSID: c.sid, muted: set.muted, status: status, start: set.start, endExit: set.endExit, created: time.Now()}
	cf.parts[c.sid] = p
	cf.order = append(cf.order, c.sid)
	c.conf = cf
	return p
}

// connect makes participant p of cf connected: participant-join, and conference-start for
// the first. The caller holds s.mu.
func (s *Sim) connect(cf *conference, p *participant) {
	p.status = "connected"
	cf.updated = time.Now()
	s.confEvent(cf, "join", "participant-join", p)
	if cf.status == "init" && p.start {
		cf.status = "in-progress"
		s.confEvent(cf, "start", "conference-start", nil)
	}
}

// leave takes call c out of its conference with Twilio's reason and the call's status; an
// empty conference ends. The caller holds s.mu.
func (s *Sim) leave(c *call, reason, callStatus string) {
	cf := c.conf
	if cf == nil {
		return
	}
	c.conf = nil
	p := cf.parts[c.sid]
	if p == nil {
		return
	}
	delete(cf.parts, c.sid)
	cf.updated = time.Now()
	s.confEvent(cf, "leave", "participant-leave", p,
		"ReasonParticipantLeft", reason, "ParticipantCallStatus", callStatus)
	switch {
	case p.endExit && p.status == "connected":
		s.endConference(cf, "participant-with-end-conference-on-exit-left", "Participant with endConferenceOnExit left the conference", "conference_ended_via_api")
	case len(cf.parts) == 0 && cf.status == "in-progress":
		cf.status = "completed"
		s.confEvent(cf, "end", "conference-end", nil,
			"ReasonConferenceEnded", "last-participant-left", "Reason", "Last participant left the conference")
	case len(cf.parts) == 0:
		cf.status = "completed"
	}
}

// endConference ends cf: every participant leaves with leaveReason and its call completes,
// then conference-end. The caller holds s.mu.
func (s *Sim) endConference(cf *conference, ended, reason, leaveReason string) {
	cf.status = "completed"
	for _, sid := range append([]string(nil), cf.order...) {
		c := s.calls[sid]
		if c == nil || cf.parts[sid] == nil {
			continue
		}
		p := cf.parts[sid]
		delete(cf.parts, sid)
		c.conf = nil
		s.confEvent(cf, "leave", "participant-leave", p, "ReasonParticipantLeft", leaveReason, "ParticipantCallStatus", "completed")
		if p.status == "connected" {
			s.setStatus(c, "completed")
		} else {
			s.setStatus(c, "canceled")
		}
	}
	s.confEvent(cf, "end", "conference-end", nil, "ReasonConferenceEnded", ended, "Reason", reason)
}

// endCall ends call c with a final status: it leaves its conference (reason), then its
// status callback. The caller holds s.mu.
func (s *Sim) endCall(c *call, status, reason string) {
	if c.final() {
		return
	}
	c.gather, c.redirect = "", ""
	s.leave(c, reason, status)
	s.setStatus(c, status)
}

// setStatus moves call c to status and sends its status callback if it asked for that event.
// The caller holds s.mu.
func (s *Sim) setStatus(c *call, status string) {
	c.status = status
	event := status
	switch {
	case status == "in-progress":
		event = "answered"
	case c.final():
		event = "completed"
	}
	if !c.events[event] {
		return
	}
	form := twiliotest.Status(c.sid, status, c.seq,
		"From", c.from, "To", c.to, "Caller", c.from, "Called", c.to, "Direction", c.direction)
	if !c.final() {
		form.Del("CallDuration")
		form.Del("Duration")
	}
	if status == "busy" {
		form.Set("SipResponseCode", "486")
	} else if status == "no-answer" {
		form.Set("SipResponseCode", "487")
	} else if status == "failed" {
		form.Set("SipResponseCode", "404")
	}
	c.seq++
	s.enqueue(c.statusURL, form)
}

// confEvent sends conference callback event (asked for by the short name short) about
// participant p (nil for a conference event). The caller holds s.mu.
func (s *Sim) confEvent(cf *conference, short, event string, p *participant, extra ...string) {
	if !cf.events[short] {
		return
	}
	cf.seq++
	sid := ""
	if p != nil {
		sid = p.callSID
	}
	form := twiliotest.Conference(event, cf.sid, cf.name, cf.seq, sid, extra...)
	if p != nil {
		form.Set("Muted", fmt.Sprint(p.muted))
		form.Set("Hold", fmt.Sprint(p.hold))
		form.Set("StartConferenceOnEnter", fmt.Sprint(p.start))
		form.Set("EndConferenceOnExit", fmt.Sprint(p.endExit))
		if p.label != "" {
			form.Set("ParticipantLabel", p.label)
		}
	}
	s.enqueue(cf.url, form)
}

// Vanish ends a call as if every callback about its end were lost: it leaves its conference
// and completes, and the bridge is told nothing (reconciliation must find out).
func (s *Sim) Vanish(sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sid]
	if c == nil || c.final() {
		return fmt.Errorf("%w: %s", ErrNoCall, sid)
	}
	if cf := c.conf; cf != nil {
		delete(cf.parts, sid)
		c.conf = nil
		if len(cf.parts) == 0 {
			cf.status = "completed"
		}
	}
	c.status = "completed"
	return nil
}
