package presence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// timedSink keeps each event with when it came.
type timedSink struct {
	mu sync.Mutex
	ev []mapper.Event
	at []time.Time
}

func (s *timedSink) Publish(ev mapper.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ev, s.at = append(s.ev, ev), append(s.at, time.Now())
}

func (s *timedSink) get() ([]mapper.Event, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mapper.Event(nil), s.ev...), append([]time.Time(nil), s.at...)
}

func speak(seq int64, on bool) roster.Participant {
	f := false
	return roster.Participant{ConferenceSID: "CF1", TopicID: topic, Seq: seq, Muted: &f, OnHold: &f, Speaking: &on}
}

// TestSpeechLimit: of 30 speaking changes in 1.5 s, at most four reach the sinks within any
// second, each party on its own, and the last state always does; a mute is never held back.
func TestSpeechLimit(t *testing.T) {
	sink := &timedSink{}
	core := presence.New(presence.Options{Roster: roster.New(roster.NewMemory()), Rooms: testRooms(t), Sinks: []presence.Sink{sink}, Speaking: true})
	defer core.Close()
	ctx := context.Background()
	a, b := fmt.Sprintf("CA%032d", 1), fmt.Sprintf("CA%032d", 2)
	for _, sid := range []string{a, b} {
		core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"})
		core.Participant(ctx, sid, join(1))
	}
	seq := int64(2)
	for i := range 30 {
		core.Participant(ctx, a, speak(seq, i%2 == 0))
		core.Participant(ctx, b, speak(seq, i%2 == 0))
		seq++
		time.Sleep(50 * time.Millisecond)
	}
	tr := true
	mute := join(seq)
	mute.Muted = &tr
	core.Participant(ctx, b, mute) // not a speaking change: published at once
	time.Sleep(1200 * time.Millisecond)
	evs, at := sink.get()
	per := map[string][]time.Time{}
	last := map[string]mapper.Event{}
	for i, ev := range evs {
		per[ev.Sender.ID] = append(per[ev.Sender.ID], at[i])
		last[ev.Sender.ID] = ev
	}
	for sid, times := range per {
		times = times[1:] // the join
		for i := range times {
			n := 0
			for j := i; j < len(times) && times[j].Sub(times[i]) < time.Second-10*time.Millisecond; j++ {
				n++
			}
			if n > 4 && !(sid == b && i+n == len(times)) { // b's mute is not a speaking change
				t.Errorf("%s: %d events within a second", sid, n)
			}
		}
		if len(times) < 5 || len(times) > 12 {
			t.Errorf("%s: %d events for 30 changes in 1.5 s", sid, len(times))
		}
	}
	if s := last[a].Content.MediaSession.Speaking; s == nil || *s {
		t.Errorf("a's last event speaking %v; want false", s)
	}
	if ms := last[b].Content.MediaSession; !ms.SelfMuted || ms.Speaking == nil || *ms.Speaking {
		t.Errorf("b's last event %+v; want muted, not speaking", ms)
	}
}

// TestSpeechPendingAtClose: a speaking change held back by the limit when the bridge shuts
// down still reaches the sinks (Close runs before they close): the room is left showing the
// party's last state, not the one before it.
func TestSpeechPendingAtClose(t *testing.T) {
	sink := &timedSink{}
	core := presence.New(presence.Options{Roster: roster.New(roster.NewMemory()), Rooms: testRooms(t), Sinks: []presence.Sink{sink}, Speaking: true})
	ctx := context.Background()
	sid := fmt.Sprintf("CA%032d", 3)
	core.Admit(ctx, sid, topic, roster.Identity{DisplayName: "x"})
	core.Participant(ctx, sid, join(1))
	for i := range 5 { // four go out at once, ending not speaking; the fifth, a start, waits
		core.Participant(ctx, sid, speak(int64(2+i), i%2 == 0))
	}
	core.Close()
	evs, _ := sink.get()
	last := evs[len(evs)-1]
	if s := last.Content.MediaSession.Speaking; last.Sender.ID != sid || s == nil || !*s {
		t.Fatalf("last event %+v after Close; want the party speaking, its last state", last.Content.MediaSession)
	}
	if len(evs) != 6 {
		t.Errorf("%d events; want the join, four changes and the last one held back", len(evs))
	}
}
