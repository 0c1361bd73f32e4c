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
		if got := PartyOf(Leaves(p, "x")); got != p {
			t.Errorf("PartyOf(Leaves(%+v)) = %+v", p, got)
		}
	}
}
