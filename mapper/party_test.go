package mapper

import "testing"

func TestPartyOf(t *testing.T) {
	for _, p := range []Party{
		{CallSID: "CA1", TopicID: "T1", Username: "u", DisplayName: "Ann", PictureURL: "https://p", Role: "member", Muted: true, Version: 7},
		{CallSID: "CA2", TopicID: "T1", DisplayName: "Bob", Role: DefaultRole, OnHold: true},
	} {
		if got := PartyOf(Online(p, "x")); got != p {
			t.Errorf("PartyOf(Online(%+v)) = %+v", p, got)
		}
		p.Reason = ReasonHungUp
		if got := PartyOf(Leaves(p, "x")); got != p {
			t.Errorf("PartyOf(Leaves(%+v)) = %+v", p, got)
		}
	}
}

// TestRingingSpeakingReason: a ringing dial-out is online but not connected, with no audio,
// on the phone; speaking shows only when set, and a leaves names its reason.
func TestRingingSpeakingReason(t *testing.T) {
	yes := true
	p := Party{CallSID: "CA1", TopicID: "T1", DisplayName: "Ann", Ringing: true}
	ms := Online(p, "x").Content.MediaSession
	if ms.Connected || ms.Audio || !ms.Phone || ms.Speaking != nil {
		t.Errorf("ringing: %+v", ms)
	}
	if got := PartyOf(Online(p, "x")); !got.Ringing {
		t.Error("PartyOf lost Ringing")
	}
	p = Party{CallSID: "CA1", TopicID: "T1", Speaking: &yes, Reason: ReasonBusy}
	if ms := Online(p, "x").Content.MediaSession; ms.Speaking == nil || !*ms.Speaking || !ms.Connected {
		t.Errorf("speaking: %+v", ms)
	}
	ev := Leaves(p, "x")
	if ev.Content.Reason != ReasonBusy || ev.Content.MediaSession.Speaking == nil || *ev.Content.MediaSession.Speaking {
		t.Errorf("leaves: reason %q speaking %v", ev.Content.Reason, ev.Content.MediaSession.Speaking)
	}
	if Online(p, "x").Content.Reason != "" {
		t.Error("an online event carries a reason")
	}
}
