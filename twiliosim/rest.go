package twiliosim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxForm caps a REST request's body.
const maxForm = 64 << 10

// ServeHTTP answers Twilio's REST API under /2010-04-01/Accounts/{AccountSid}/.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		writeError(w, &Error{Status: 400, Code: 20001, Message: "Malformed request body"})
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Form: r.PostForm, At: time.Now()}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	fault, delay := s.fault, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != s.opts.AccountSID || pass != s.opts.AuthToken {
		writeError(w, &Error{Status: 401, Code: 20003, Message: "Authenticate"})
		return
	}
	if fault != nil {
		if e := fault(req); e != nil {
			writeError(w, e)
			return
		}
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/2010-04-01/Accounts/"+s.opts.AccountSID+"/")
	if !ok || !strings.HasSuffix(rest, ".json") {
		notFound(w, r)
		return
	}
	parts := strings.Split(strings.TrimSuffix(rest, ".json"), "/")
	get, post, del := r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodDelete
	switch {
	case len(parts) == 2 && parts[0] == "Calls" && get:
		s.fetchCall(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "Calls" && post:
		s.updateCall(w, r, parts[1])
	case len(parts) == 1 && parts[0] == "Conferences" && get:
		s.listConferences(w, r)
	case len(parts) == 2 && parts[0] == "Conferences" && get:
		s.fetchConference(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "Conferences" && post:
		s.updateConference(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "Conferences" && parts[2] == "Participants" && get:
		s.listParticipants(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "Conferences" && parts[2] == "Participants" && post:
		s.createParticipant(w, r, parts[1])
	case len(parts) == 4 && parts[0] == "Conferences" && parts[2] == "Participants" && (get || post || del):
		s.participant(w, r, parts[1], parts[3])
	default:
		notFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers Twilio's error JSON.
func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, map[string]any{
		"code": e.Code, "message": e.Message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", e.Code), "status": e.Status,
	})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, &Error{Status: 404, Code: 20404, Message: "The requested resource " + r.URL.Path + " was not found"})
}

// date is Twilio's RFC 2822 date of its JSON resources.
func date(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700") }

func (s *Sim) base() string { return "/2010-04-01/Accounts/" + s.opts.AccountSID }

// page cuts items into Twilio's page envelope under key. The page size is the request's
// PageSize, at most Options.PageSize; Page numbers from 0.
func (s *Sim) page(r *http.Request, key string, items []map[string]any) map[string]any {
	size, _ := strconv.Atoi(r.URL.Query().Get("PageSize"))
	if size <= 0 || size > s.opts.PageSize {
		size = s.opts.PageSize
	}
	p, _ := strconv.Atoi(r.URL.Query().Get("Page"))
	p = max(p, 0)
	start := min(p*size, len(items))
	end := min(start+size, len(items))
	uri := func(n int) string {
		q := r.URL.Query()
		q.Set("PageSize", strconv.Itoa(size))
		q.Set("Page", strconv.Itoa(n))
		if n > 0 {
			q.Set("PageToken", fmt.Sprintf("PA%032d", n))
		} else {
			q.Del("PageToken")
		}
		return r.URL.Path + "?" + q.Encode()
	}
	var next, prev any
	if end < len(items) {
		next = uri(p + 1)
	}
	if p > 0 {
		prev = uri(p - 1)
	}
	if items == nil {
		items = []map[string]any{}
	}
	return map[string]any{
		key: items[start:end], "first_page_uri": uri(0), "next_page_uri": next, "previous_page_uri": prev,
		"page": p, "page_size": size, "start": start, "end": max(end-1, 0), "uri": uri(p),
	}
}

// callJSON is Twilio's Call resource. The caller holds s.mu.
func (s *Sim) callJSON(c *call) map[string]any {
	m := map[string]any{
		"sid": c.sid, "account_sid": s.opts.AccountSID, "parent_call_sid": nil, "to": c.to, "to_formatted": c.to,
		"from": c.from, "from_formatted": c.from, "caller_name": nil, "status": c.status, "direction": c.direction,
		"start_time": date(c.created), "end_time": nil, "duration": nil, "price": nil, "price_unit": "USD",
		"api_version": "2010-04-01", "phone_number_sid": nil, "answered_by": nil, "forwarded_from": nil,
		"group_sid": nil, "queue_time": "0", "trunk_sid": nil, "annotation": nil,
		"date_created": date(c.created), "date_updated": date(time.Now()),
		"uri": s.base() + "/Calls/" + c.sid + ".json",
		"subresource_uris": map[string]string{
			"notifications": s.base() + "/Calls/" + c.sid + "/Notifications.json",
			"recordings":    s.base() + "/Calls/" + c.sid + "/Recordings.json",
		},
	}
	if c.final() {
		m["end_time"] = date(time.Now())
		m["duration"] = "1"
	}
	return m
}

func (s *Sim) conferenceJSON(cf *conference) map[string]any {
	var ended any
	if cf.status == "completed" {
		ended = "last-participant-left"
	}
	return map[string]any{
		"account_sid": s.opts.AccountSID, "api_version": "2010-04-01", "sid": cf.sid, "friendly_name": cf.name,
		"status": cf.status, "region": "us1", "date_created": date(cf.created), "date_updated": date(cf.updated),
		"reason_conference_ended": ended, "call_sid_ending_conference": nil,
		"uri": s.base() + "/Conferences/" + cf.sid + ".json",
		"subresource_uris": map[string]string{
			"participants": s.base() + "/Conferences/" + cf.sid + "/Participants.json",
			"recordings":   s.base() + "/Conferences/" + cf.sid + "/Recordings.json",
		},
	}
}

func (s *Sim) participantJSON(cf *conference, p *participant) map[string]any {
	var label any
	if p.label != "" {
		label = p.label
	}
	return map[string]any{
		"account_sid": s.opts.AccountSID, "call_sid": p.callSID, "conference_sid": cf.sid, "label": label,
		"call_sid_to_coach": nil, "coaching": false, "end_conference_on_exit": p.endExit,
		"start_conference_on_enter": p.start, "muted": p.muted, "hold": p.hold, "status": p.status,
		"queue_time": nil, "date_created": date(p.created), "date_updated": date(time.Now()),
		"uri": s.base() + "/Conferences/" + cf.sid + "/Participants/" + p.callSID + ".json",
	}
}

func (s *Sim) fetchCall(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[sid]
	if c == nil {
		notFound(w, r)
		return
	}
	writeJSON(w, 200, s.callJSON(c))
}

// updateCall is POST Calls/{Sid}.json: Status=completed or canceled ends the call; Twiml
// gives it new TwiML at once (it leaves any conference it was in).
func (s *Sim) updateCall(w http.ResponseWriter, r *http.Request, sid string) {
	status, x := r.PostForm.Get("Status"), r.PostForm.Get("Twiml")
	s.mu.Lock()
	c := s.calls[sid]
	switch {
	case c == nil:
		s.mu.Unlock()
		notFound(w, r)
		return
	case status == "" && x == "":
		s.mu.Unlock()
		writeError(w, &Error{Status: 400, Code: 21218, Message: "Invalid 'Url' or 'Twiml': one is required"})
		return
	case status != "" && status != "completed" && status != "canceled":
		s.mu.Unlock()
		writeError(w, &Error{Status: 400, Code: 21218, Message: "Invalid status " + strconv.Quote(status)})
		return
	case c.final():
		s.mu.Unlock()
		writeError(w, &Error{Status: 400, Code: 21220, Message: "Call is not in-progress. Cannot redirect."})
		return
	}
	if status != "" {
		final := "completed"
		if c.status != "in-progress" {
			final = "canceled"
		}
		s.endCall(c, final, "participant_updated_via_api")
		body := s.callJSON(c)
		s.mu.Unlock()
		writeJSON(w, 200, body)
		return
	}
	if _, err := parseTwiML(x); err != nil {
		s.mu.Unlock()
		writeError(w, &Error{Status: 400, Code: 12100, Message: "Document parse failure"})
		return
	}
	c.gather, c.redirect = "", ""
	s.leave(c, "participant_updated_via_api", "in-progress")
	body := s.callJSON(c)
	s.mu.Unlock()
	writeJSON(w, 200, body)
	s.execute(c, x)
}

func (s *Sim) listConferences(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	var confs []*conference
	for _, cf := range s.confs {
		if st := q.Get("Status"); st != "" && cf.status != st {
			continue
		}
		if n := q.Get("FriendlyName"); n != "" && cf.name != n {
			continue
		}
		confs = append(confs, cf)
	}
	sort.Slice(confs, func(i, j int) bool { return confs[i].created.After(confs[j].created) }) // newest first
	items := make([]map[string]any, 0, len(confs))
	for _, cf := range confs {
		items = append(items, s.conferenceJSON(cf))
	}
	s.mu.Unlock()
	writeJSON(w, 200, s.page(r, "conferences", items))
}

func (s *Sim) fetchConference(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cf := s.confs[sid]
	if cf == nil {
		notFound(w, r)
		return
	}
	writeJSON(w, 200, s.conferenceJSON(cf))
}

// updateConference is POST Conferences/{Sid}.json with Status=completed: the conference ends.
func (s *Sim) updateConference(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cf := s.confs[sid]
	if cf == nil {
		notFound(w, r)
		return
	}
	if st := r.PostForm.Get("Status"); st != "completed" {
		writeError(w, &Error{Status: 400, Code: 20001, Message: "Status must be completed"})
		return
	}
	if cf.status != "completed" {
		s.endConference(cf, "conference-ended-via-api", "Conference ended via API", "conference_ended_via_api")
	}
	writeJSON(w, 200, s.conferenceJSON(cf))
}

func (s *Sim) listParticipants(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	cf := s.confs[sid]
	if cf == nil {
		s.mu.Unlock()
		notFound(w, r)
		return
	}
	items := []map[string]any{}
	for _, callSID := range cf.order {
		if p := cf.parts[callSID]; p != nil {
			items = append(items, s.participantJSON(cf, p))
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, s.page(r, "participants", items))
}

// participant is GET, POST (update Muted, Hold) or DELETE of one participant.
func (s *Sim) participant(w http.ResponseWriter, r *http.Request, confSID, callSID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cf := s.confs[confSID]
	var p *participant
	if cf != nil {
		p = cf.parts[callSID]
	}
	if p == nil {
		notFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, 200, s.participantJSON(cf, p))
	case http.MethodDelete:
		s.endCall(s.calls[callSID], "completed", "participant_updated_via_api")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		muted, err1 := optBool(r.PostForm.Get("Muted"))
		hold, err2 := optBool(r.PostForm.Get("Hold"))
		if err1 != nil || err2 != nil {
			writeError(w, &Error{Status: 400, Code: 20001, Message: "Muted and Hold must be true or false"})
			return
		}
		body := s.participantJSON(cf, p)
		if muted != nil && *muted != p.muted {
			p.muted = *muted
			ev := "participant-unmute"
			if p.muted {
				ev = "participant-mute"
			}
			s.confEvent(cf, "mute", ev, p)
		}
		if hold != nil && *hold != p.hold {
			p.hold = *hold
			ev := "participant-unhold"
			if p.hold {
				ev = "participant-hold"
			}
			s.confEvent(cf, "hold", ev, p)
		}
		body["muted"], body["hold"] = p.muted, p.hold
		writeJSON(w, 200, body)
	}
}

func optBool(v string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "true", "True":
		b := true
		return &b, nil
	case "false", "False":
		b := false
		return &b, nil
	}
	return nil, fmt.Errorf("not a boolean: %q", v)
}
