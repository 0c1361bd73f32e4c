package webhook_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"testing"

	"github.com/google/uuid"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

type step struct {
	path string
	form url.Values
	want int // status
}

var (
	callA = callSID(30)
	callB = callSID(31)
	conf1 = confSID(30)
	conf2 = confSID(31)
)

func incomingStep(sid, to string) step {
	return step{webhook.PathVoice, voiceForm(sid, unknownCaller, to), http.StatusOK}
}

func confStep(event string, seq int, sid string, extra ...string) step {
	return step{webhook.PathConference, confForm(event, conf1, topicA, seq, sid, extra...), http.StatusNoContent}
}

func statusStep(sid, status string, seq int) step {
	return step{webhook.PathStatus, statusForm(sid, status, seq), http.StatusNoContent}
}

// online is callA routed to topic A and joined (SequenceNumber 1).
var online = []step{incomingStep(callA, numA), confStep("participant-join", 1, callA)}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// wantEvent is an expected presence event. For leaves, only connected and phone are
// checked among the media fields: the contract fixes those two.
type wantEvent struct {
	category  string
	sid       string
	audio     bool
	selfMuted bool
}

func onlineEv(sid string, audio, muted bool) wantEvent {
	return wantEvent{mapper.CategoryOnline, sid, audio, muted}
}

func leavesEv(sid string) wantEvent { return wantEvent{category: mapper.CategoryLeaves, sid: sid} }

func TestPresence(t *testing.T) {
	tests := []struct {
		name  string
		setup []step
		step  step
		want  []wantEvent // nil: ignored
		live  []string    // calls still live (not ended) afterwards
	}{
		{"participant-join", []step{incomingStep(callA, numA)}, confStep("participant-join", 1, callA),
			[]wantEvent{onlineEv(callA, true, false)}, []string{callA}},
		{"participant-join already muted", []step{incomingStep(callA, numA)}, confStep("participant-join", 1, callA, "Muted", "true"),
			[]wantEvent{onlineEv(callA, true, true)}, []string{callA}},
		{"participant-join already on hold", []step{incomingStep(callA, numA)}, confStep("participant-join", 1, callA, "Hold", "true"),
			[]wantEvent{onlineEv(callA, false, false)}, []string{callA}},
		{"participant-mute", online, confStep("participant-mute", 2, callA),
			[]wantEvent{onlineEv(callA, true, true)}, []string{callA}},
		{"participant-unmute", concat(online, []step{confStep("participant-mute", 2, callA)}), confStep("participant-unmute", 3, callA),
			[]wantEvent{onlineEv(callA, true, false)}, []string{callA}},
		{"participant-hold", online, confStep("participant-hold", 2, callA),
			[]wantEvent{onlineEv(callA, false, false)}, []string{callA}},
		{"participant-unhold", concat(online, []step{confStep("participant-hold", 2, callA)}), confStep("participant-unhold", 3, callA),
			[]wantEvent{onlineEv(callA, true, false)}, []string{callA}},
		{"hold keeps mute", concat(online, []step{confStep("participant-mute", 2, callA)}), confStep("participant-hold", 3, callA, "Muted", "true"),
			[]wantEvent{onlineEv(callA, false, true)}, []string{callA}},
		{"participant-leave", online, confStep("participant-leave", 2, callA),
			[]wantEvent{leavesEv(callA)}, nil},
		{"participant-leave while on hold", concat(online, []step{confStep("participant-hold", 2, callA)}), confStep("participant-leave", 3, callA, "Hold", "true"),
			[]wantEvent{leavesEv(callA)}, nil},
		{"conference-start", []step{incomingStep(callA, numA)}, confStep("conference-start", 0, ""),
			nil, []string{callA}},
		{"conference-end", concat(online, []step{incomingStep(callB, numA), confStep("participant-join", 2, callB)}), confStep("conference-end", 3, ""),
			[]wantEvent{leavesEv(callA), leavesEv(callB)}, nil},
		{"conference-end after one left", concat(online, []step{incomingStep(callB, numA), confStep("participant-join", 2, callB), confStep("participant-leave", 3, callA)}),
			confStep("conference-end", 4, ""), []wantEvent{leavesEv(callB)}, nil},
		{"conference-end of another conference", online,
			step{webhook.PathConference, confForm("conference-end", conf2, topicA, 9, ""), http.StatusNoContent}, nil, []string{callA}},
		{"conference-end of another topic", online,
			step{webhook.PathConference, confForm("conference-end", conf1, topicB, 9, ""), http.StatusNoContent}, nil, []string{callA}},
		{"participant-speech-start", online, confStep("participant-speech-start", 2, callA), nil, []string{callA}},
		{"participant-speech-stop", online, confStep("participant-speech-stop", 2, callA), nil, []string{callA}},
		{"participant-modify", online, confStep("participant-modify", 2, callA), nil, []string{callA}},
		{"announcement-end", online, confStep("announcement-end", 2, ""), nil, []string{callA}},
		{"status ringing", online, statusStep(callA, "ringing", 0), nil, []string{callA}},
		{"status in-progress", online, statusStep(callA, "in-progress", 1), nil, []string{callA}},
		{"status in-progress before join", []step{incomingStep(callA, numA)}, statusStep(callA, "in-progress", 1), nil, []string{callA}},
		{"status completed", online, statusStep(callA, "completed", 2), []wantEvent{leavesEv(callA)}, nil},
		{"status busy", online, statusStep(callA, "busy", 2), []wantEvent{leavesEv(callA)}, nil},
		{"status failed", online, statusStep(callA, "failed", 2), []wantEvent{leavesEv(callA)}, nil},
		{"status no-answer", online, statusStep(callA, "no-answer", 2), []wantEvent{leavesEv(callA)}, nil},
		{"status canceled", online, statusStep(callA, "canceled", 2), []wantEvent{leavesEv(callA)}, nil},
		{"status completed without SequenceNumber", online,
			step{webhook.PathStatus, statusForm(callA, "completed", 0, "SequenceNumber", ""), http.StatusNoContent}, []wantEvent{leavesEv(callA)}, nil},
		{"status completed before join", []step{incomingStep(callA, numA)}, statusStep(callA, "completed", 2), nil, nil},
		{"status busy before join", []step{incomingStep(callA, numA)}, statusStep(callA, "busy", 2), nil, nil},
		{"status failed before join", []step{incomingStep(callA, numA)}, statusStep(callA, "failed", 2), nil, nil},
		{"status no-answer before join", []step{incomingStep(callA, numA)}, statusStep(callA, "no-answer", 2), nil, nil},
		{"status canceled while asked for a PIN", []step{incomingStep(callA, "+15005550009")}, statusStep(callA, "canceled", 2), nil, nil},
		{"status completed of a call never seen", nil, statusStep(callA, "completed", 2), nil, nil},

		// Duplicates.
		{"duplicate join", online, confStep("participant-join", 1, callA), nil, []string{callA}},
		{"duplicate mute", concat(online, []step{confStep("participant-mute", 2, callA)}), confStep("participant-mute", 2, callA), nil, []string{callA}},
		{"mute of a muted call", concat(online, []step{confStep("participant-mute", 2, callA)}), confStep("participant-mute", 3, callA), nil, []string{callA}},
		{"duplicate leave", concat(online, []step{confStep("participant-leave", 2, callA)}), confStep("participant-leave", 2, callA), nil, nil},
		{"duplicate completed", concat(online, []step{statusStep(callA, "completed", 2)}), statusStep(callA, "completed", 2), nil, nil},
		{"duplicate conference-end", concat(online, []step{confStep("conference-end", 2, "")}), confStep("conference-end", 2, ""), nil, nil},
		{"completed after leave", concat(online, []step{confStep("participant-leave", 2, callA)}), statusStep(callA, "completed", 3), nil, nil},
		{"leave after completed", concat(online, []step{statusStep(callA, "completed", 3)}), confStep("participant-leave", 2, callA), nil, nil},
		{"conference-end after completed", concat(online, []step{statusStep(callA, "completed", 3)}), confStep("conference-end", 4, ""), nil, nil},
		{"completed after conference-end", concat(online, []step{confStep("conference-end", 2, "")}), statusStep(callA, "completed", 3), nil, nil},

		// Nothing after leaves.
		{"join after leave", concat(online, []step{confStep("participant-leave", 2, callA)}), confStep("participant-join", 3, callA), nil, nil},
		{"mute after leave", concat(online, []step{confStep("participant-leave", 2, callA)}), confStep("participant-mute", 3, callA), nil, nil},
		{"join of a new conference after leave", concat(online, []step{confStep("participant-leave", 2, callA)}),
			step{webhook.PathConference, confForm("participant-join", conf2, topicA, 1, callA), http.StatusNoContent}, nil, nil},
		{"join after completed before join", []step{incomingStep(callA, numA), statusStep(callA, "completed", 2)}, confStep("participant-join", 1, callA), nil, nil},
		{"join after completed of a call never seen", []step{statusStep(callA, "completed", 2)}, confStep("participant-join", 1, callA), nil, nil},

		// Out of order, by SequenceNumber.
		{"unmute older than mute", concat(online, []step{confStep("participant-mute", 3, callA)}), confStep("participant-unmute", 2, callA), nil, []string{callA}},
		{"unhold older than hold", concat(online, []step{confStep("participant-hold", 3, callA)}), confStep("participant-unhold", 2, callA), nil, []string{callA}},
		{"join after a newer mute", []step{incomingStep(callA, numA), confStep("participant-mute", 2, callA)}, confStep("participant-join", 1, callA), nil, []string{callA}},
		{"mute before join brings the call online muted", []step{incomingStep(callA, numA)}, confStep("participant-mute", 2, callA),
			[]wantEvent{onlineEv(callA, true, true)}, []string{callA}},
		{"join after a newer leave", []step{incomingStep(callA, numA), confStep("participant-leave", 5, callA)}, confStep("participant-join", 2, callA), nil, nil},
		{"leave before join emits nothing", []step{incomingStep(callA, numA)}, confStep("participant-leave", 5, callA), nil, nil},
		{"participant-join older than its conference's end", []step{incomingStep(callA, numA), confStep("conference-end", 5, "")},
			confStep("participant-join", 3, callA), nil, []string{callA}},
		{"participant-join older than the end, of a call never seen", []step{confStep("conference-end", 5, "")},
			confStep("participant-join", 3, callA), nil, nil},
		{"participant-join of the topic's next conference after an end", []step{incomingStep(callA, numA), confStep("conference-end", 5, "")},
			step{webhook.PathConference, confForm("participant-join", conf2, topicA, 1, callA), http.StatusNoContent},
			[]wantEvent{onlineEv(callA, true, false)}, []string{callA}},
		{"conference-end older than join", []step{incomingStep(callA, numA), confStep("participant-join", 5, callA)}, confStep("conference-end", 4, ""), nil, []string{callA}},

		// Participants the roster never saw.
		{"join of an unseen call in a known topic", nil, confStep("participant-join", 1, callA), []wantEvent{onlineEv(callA, true, false)}, []string{callA}},
		{"join of an unseen call in an unknown topic", nil,
			step{webhook.PathConference, confForm("participant-join", conf1, "not-a-topic", 1, callA), http.StatusNoContent}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBridge(t)
			for i, s := range tc.setup {
				if r := b.do(request{path: s.path, form: s.form}); r.status != s.want {
					t.Fatalf("setup step %d %s %s: status %d (%q)", i, s.path, s.form.Get("StatusCallbackEvent")+s.form.Get("CallStatus"), r.status, r.body)
				}
			}
			before := len(b.pub.all())
			r := b.do(request{path: tc.step.path, form: tc.step.form})
			if r.status != tc.step.want {
				t.Fatalf("status %d (%q); want %d", r.status, r.body, tc.step.want)
			}
			got := b.pub.all()[before:]
			sort.Slice(got, func(i, j int) bool { return got[i].Sender.ID < got[j].Sender.ID })
			if len(got) != len(tc.want) {
				t.Fatalf("published %d events %s; want %d", len(got), categories(got), len(tc.want))
			}
			for i, w := range tc.want {
				checkEvent(t, got[i], w, topicA)
			}
			checkIDs(t, b.pub.all())

			var live []string
			for _, c := range b.live() {
				live = append(live, c.CallSID)
			}
			sort.Strings(live)
			if fmt.Sprint(live) != fmt.Sprint(tc.live) {
				t.Errorf("live calls %v; want %v", live, tc.live)
			}
		})
	}
}

func categories(evs []mapper.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Category+"/"+e.Sender.ID)
	}
	return fmt.Sprint(s)
}

// checkEvent compares an event to the contract's dial-in event.
func checkEvent(t *testing.T, got mapper.Event, w wantEvent, topic string) {
	t.Helper()
	if got.Category != w.category {
		t.Errorf("category %q; want %q", got.Category, w.category)
	}
	if got.TopicID != topic {
		t.Errorf("topicId %q; want %q", got.TopicID, topic)
	}
	if got.Sender.ID != w.sid || got.Content.SessionID != w.sid {
		t.Errorf("sender._id %q, sessionId %q; want %q", got.Sender.ID, got.Content.SessionID, w.sid)
	}
	if got.Sender.Type != "phone" {
		t.Errorf("sender.type %q; want phone", got.Sender.Type)
	}
	c := got.Content
	if c.EmittedBy != "wcs" || c.Offline || c.Idle || c.Desktop {
		t.Errorf("content emitedby %q offline %v idle %v desktop %v; want wcs false false false", c.EmittedBy, c.Offline, c.Idle, c.Desktop)
	}
	m := c.MediaSession
	if m.Video || m.Screenshare {
		t.Errorf("video %v screenshare %v; want false", m.Video, m.Screenshare)
	}
	switch w.category {
	case mapper.CategoryLeaves:
		if m.Connected || m.Phone {
			t.Errorf("leaves: connected %v phone %v; want false false", m.Connected, m.Phone)
		}
	default:
		want := mapper.MediaSession{Audio: w.audio, Connected: true, SelfMuted: w.selfMuted, Phone: true}
		if m != want {
			t.Errorf("mediaSession %+v; want %+v", m, want)
		}
	}
}

// checkIDs checks every event has a fresh UUID.
func checkIDs(t *testing.T, evs []mapper.Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range evs {
		if _, err := uuid.Parse(e.ID); err != nil {
			t.Errorf("_id %q is not a UUID", e.ID)
		}
		if seen[e.ID] {
			t.Errorf("_id %q used twice", e.ID)
		}
		seen[e.ID] = true
	}
}

// TestOneLeavesPerCall replays a call's callbacks in every order of a shuffled, duplicated
// stream and checks the room sees exactly one leaves, last.
func TestOneLeavesPerCall(t *testing.T) {
	stream := []step{
		confStep("participant-join", 1, callA),
		confStep("participant-mute", 2, callA),
		confStep("participant-unmute", 3, callA),
		confStep("participant-leave", 4, callA),
		statusStep(callA, "completed", 2),
		confStep("conference-end", 5, ""),
	}
	orders := [][]int{
		{0, 1, 2, 3, 4, 5},
		{5, 4, 3, 2, 1, 0},
		{0, 3, 1, 2, 4, 5},
		{4, 0, 1, 2, 3, 5},
		{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5},
		{0, 1, 4, 2, 3, 5, 0, 1, 2, 3},
		{0, 5, 1, 2, 3, 4},
		{1, 0, 2, 3, 4, 5},
	}
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			b := newBridge(t)
			b.post(webhook.PathVoice, voiceForm(callA, unknownCaller, numA), http.StatusOK)
			for _, i := range order {
				s := stream[i]
				b.post(s.path, s.form, s.want)
			}
			evs := b.pub.all()
			leaves := 0
			for i, e := range evs {
				if e.Category == mapper.CategoryLeaves {
					leaves++
					if i != len(evs)-1 {
						t.Errorf("event after leaves: %s", categories(evs))
					}
				}
			}
			wantLeaves := 1
			if order[0] != 0 && order[0] != 1 {
				// The call ended before any join reached the bridge: it was never online.
				wantLeaves = 0
			}
			if leaves != wantLeaves {
				t.Errorf("%d leaves in %s; want %d", leaves, categories(evs), wantLeaves)
			}
			if len(b.live()) != 0 {
				t.Error("the call is still live")
			}
		})
	}
}
