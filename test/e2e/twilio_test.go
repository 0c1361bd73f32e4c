package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTwilio answers the parts of Twilio's REST API the bridge uses, with Twilio's documented
// JSON: conferences in progress and their participants (two to a page, so that pagination is
// always exercised), and call updates. It records every request.
type fakeTwilio struct {
	*httptest.Server
	mu       sync.Mutex
	confs    map[string]*fakeConf // by ConferenceSid
	requests []string             // "METHOD path?query form"
	failing  int                  // HTTP status to answer everything with; 0: answer normally
	delay    time.Duration        // how long each answer waits
	hangups  []string             // CallSids hung up
	callers  map[string][2]string // CallSid → From, CallerName (Calls/{Sid}.json)
	// updating is how many POSTs to Calls/{Sid}.json are being answered; mostUpdating the
	// most there ever were at once.
	updating, mostUpdating int
	// updatingCall counts them by call; mostOneCall is the most for one call at once.
	updatingCall map[string]int
	mostOneCall  int
}

type fakeConf struct {
	topic   string
	parts   map[string][2]bool   // CallSid → muted, hold
	created map[string]time.Time // CallSid → the participant's date_created
}

const fakePageSize = 2

// twilioDate is how Twilio's REST API writes dates, as in "Thu, 01 Jun 2017 20:48:32 +0000".
const twilioDate = "Mon, 02 Jan 2006 15:04:05 -0700"

func newFakeTwilio(t testing.TB) *fakeTwilio {
	f := &fakeTwilio{confs: map[string]*fakeConf{}, callers: map[string][2]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// setLive lists the calls as connected participants of conf (whose friendly name is topic).
func (f *fakeTwilio) setLive(conf, topic string, sids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.confs[conf]
	if c == nil {
		c = &fakeConf{topic: topic, parts: map[string][2]bool{}, created: map[string]time.Time{}}
		f.confs[conf] = c
	}
	for _, sid := range sids {
		c.parts[sid] = [2]bool{}
		if _, ok := c.created[sid]; !ok {
			c.created[sid] = time.Now()
		}
	}
}

// setCreated sets the date_created Twilio gives participant sid of conf.
func (f *fakeTwilio) setCreated(conf, sid string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confs[conf].created[sid] = at
}

// setCaller says who placed call sid, for its Calls resource.
func (f *fakeTwilio) setCaller(sid, from, callerName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.callers[sid] = [2]string{from, callerName}
}

// end takes calls out of every conference; conferences left empty end.
func (f *fakeTwilio) end(sids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.confs {
		for _, sid := range sids {
			delete(c.parts, sid)
			delete(c.created, sid)
		}
		if len(c.parts) == 0 {
			delete(f.confs, id)
		}
	}
}

func (f *fakeTwilio) slow(d time.Duration) {
	f.mu.Lock()
	f.delay = d
	f.mu.Unlock()
}

func (f *fakeTwilio) fail(status int) {
	f.mu.Lock()
	f.failing = status
	f.mu.Unlock()
}

func (f *fakeTwilio) hungUp() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.hangups...)
}

func (f *fakeTwilio) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func twilioError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI()+" "+r.PostForm.Encode())
	failing, delay := f.failing, f.delay
	update := r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/Calls/")
	if update {
		call := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if f.updatingCall == nil {
			f.updatingCall = map[string]int{}
		}
		f.updating++
		f.updatingCall[call]++
		f.mostUpdating = max(f.mostUpdating, f.updating)
		f.mostOneCall = max(f.mostOneCall, f.updatingCall[call])
		defer func() {
			f.mu.Lock()
			f.updating--
			f.updatingCall[call]--
			f.mu.Unlock()
		}()
	}
	f.mu.Unlock()
	time.Sleep(delay)
	if user, pass, ok := r.BasicAuth(); !ok || user != accountID || pass != authToken {
		twilioError(w, 401, 20003, "Authenticate")
		return
	}
	if failing != 0 {
		twilioError(w, failing, 20500, "Internal Server Error")
		return
	}
	prefix := "/2010-04-01/Accounts/" + accountID + "/"
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		twilioError(w, 404, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	parts := strings.Split(strings.TrimSuffix(path, ".json"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "Conferences":
		f.listConferences(w, r)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "Conferences" && parts[2] == "Participants":
		f.listParticipants(w, r, parts[1])
	case r.Method == http.MethodPost && len(parts) == 2 && parts[0] == "Calls":
		f.updateCall(w, r, parts[1])
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "Calls":
		f.fetchCall(w, parts[1])
	default:
		twilioError(w, 404, 20404, "The requested resource "+r.URL.Path+" was not found")
	}
}

// page cuts items into Twilio's page envelope, two items a page.
func page(r *http.Request, key string, items []map[string]any) map[string]any {
	p, _ := strconv.Atoi(r.URL.Query().Get("Page"))
	start := p * fakePageSize
	end := min(start+fakePageSize, len(items))
	if start > len(items) {
		start = len(items)
	}
	uri := func(n int) string {
		q := r.URL.Query()
		q.Set("PageSize", strconv.Itoa(fakePageSize))
		q.Set("Page", strconv.Itoa(n))
		if n > 0 {
			q.Set("PageToken", fmt.Sprintf("PA%032d", n))
		} else {
			q.Del("PageToken")
		}
		return r.URL.Path + "?" + q.Encode()
	}
	var next any
	if end < len(items) {
		next = uri(p + 1)
	}
	var prev any
	if p > 0 {
		prev = uri(p - 1)
	}
	return map[string]any{
		key: items[start:end], "first_page_uri": uri(0), "next_page_uri": next, "previous_page_uri": prev,
		"page": p, "page_size": fakePageSize, "start": start, "end": max(end-1, 0), "uri": uri(p),
	}
}

func (f *fakeTwilio) listConferences(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var items []map[string]any
	for sid, c := range f.confs {
		if st := r.URL.Query().Get("Status"); st != "" && st != "in-progress" {
			continue
		}
		items = append(items, map[string]any{
			"account_sid": accountID, "api_version": "2010-04-01", "sid": sid, "friendly_name": c.topic,
			"status": "in-progress", "region": "us1", "date_created": "Thu, 01 Jun 2017 20:48:32 +0000",
			"date_updated": "Thu, 01 Jun 2017 20:48:32 +0000", "reason_conference_ended": nil,
			"call_sid_ending_conference": nil,
			"uri":                        "/2010-04-01/Accounts/" + accountID + "/Conferences/" + sid + ".json",
			"subresource_uris": map[string]string{
				"participants": "/2010-04-01/Accounts/" + accountID + "/Conferences/" + sid + "/Participants.json",
			},
		})
	}
	f.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i]["sid"].(string) < items[j]["sid"].(string) })
	writeJSON(w, page(r, "conferences", items))
}

func (f *fakeTwilio) listParticipants(w http.ResponseWriter, r *http.Request, conf string) {
	f.mu.Lock()
	c := f.confs[conf]
	var items []map[string]any
	if c != nil {
		for sid, st := range c.parts {
			items = append(items, map[string]any{
				"account_sid": accountID, "call_sid": sid, "conference_sid": conf, "label": nil,
				"call_sid_to_coach": nil, "coaching": false, "end_conference_on_exit": false,
				"start_conference_on_enter": true, "muted": st[0], "hold": st[1], "status": "connected",
				"date_created": c.created[sid].UTC().Format(twilioDate), "date_updated": c.created[sid].UTC().Format(twilioDate),
				"uri": "/2010-04-01/Accounts/" + accountID + "/Conferences/" + conf + "/Participants/" + sid + ".json",
			})
		}
	}
	f.mu.Unlock()
	if c == nil {
		twilioError(w, 404, 20404, "The requested resource was not found")
		return
	}
	sort.Slice(items, func(i, j int) bool { return items[i]["call_sid"].(string) < items[j]["call_sid"].(string) })
	writeJSON(w, page(r, "participants", items))
}

func (f *fakeTwilio) updateCall(w http.ResponseWriter, r *http.Request, sid string) {
	if r.PostForm.Get("Status") != "completed" {
		twilioError(w, 400, 21220, "Invalid call state for this operation")
		return
	}
	f.mu.Lock()
	f.hangups = append(f.hangups, sid)
	f.mu.Unlock()
	writeJSON(w, map[string]any{
		"sid": sid, "account_sid": accountID, "status": "completed", "direction": "inbound",
		"api_version": "2010-04-01", "uri": "/2010-04-01/Accounts/" + accountID + "/Calls/" + sid + ".json",
	})
}

// fetchCall answers Calls/{Sid}.json with the fields of Twilio's Call resource.
func (f *fakeTwilio) fetchCall(w http.ResponseWriter, sid string) {
	f.mu.Lock()
	who, ok := f.callers[sid]
	f.mu.Unlock()
	if !ok {
		twilioError(w, 404, 20404, "The requested resource /2010-04-01/Accounts/"+accountID+"/Calls/"+sid+".json was not found")
		return
	}
	call := map[string]any{
		"sid": sid, "account_sid": accountID, "parent_call_sid": nil, "to": numA, "to_formatted": "(500) 555-0006",
		"from": who[0], "from_formatted": who[0], "caller_name": nil, "status": "in-progress", "direction": "inbound",
		"start_time": "Wed, 25 Nov 2026 10:00:00 +0000", "end_time": nil, "duration": nil, "price": nil,
		"api_version": "2010-04-01", "phone_number_sid": "PN" + strings.Repeat("0", 32), "answered_by": nil,
		"forwarded_from": nil, "group_sid": nil, "queue_time": "0", "trunk_sid": nil,
		"date_created": "Wed, 25 Nov 2026 10:00:00 +0000", "date_updated": "Wed, 25 Nov 2026 10:00:01 +0000",
		"uri": "/2010-04-01/Accounts/" + accountID + "/Calls/" + sid + ".json",
	}
	if who[1] != "" {
		call["caller_name"] = who[1]
	}
	writeJSON(w, call)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
