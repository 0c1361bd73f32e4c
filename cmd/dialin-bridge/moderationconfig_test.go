package main

import (
	"slices"
	"strings"
	"testing"
)

func TestModerationConfig(t *testing.T) {
	raw := validRaw()
	raw.DialoutFrom, raw.DialoutPrefixes, raw.DialoutMaxRinging, raw.Speaking = " +15005550006 ", "+1, +44", "2", "true"
	c, err := raw.validate()
	if err != nil {
		t.Fatal(err)
	}
	m := c.Moderation
	if m.DialOutFrom != "+15005550006" || !slices.Equal(m.DialOutPrefixes, []string{"+1", "+44"}) || m.DialOutMaxRinging != 2 || !m.Speaking {
		t.Errorf("moderation config %+v", m)
	}
}

// TestModerationConfigErrors: every bad variable is named in one message.
func TestModerationConfigErrors(t *testing.T) {
	raw := validRaw()
	raw.DialoutFrom, raw.DialoutPrefixes, raw.DialoutMaxRinging, raw.Speaking = "15005550006", "+1,44,+0", "0", "yes"
	_, err := raw.validate()
	if err == nil {
		t.Fatal("bad variables accepted")
	}
	for _, name := range []string{"DIALIN_DIALOUT_FROM", "DIALIN_DIALOUT_PREFIXES", "DIALIN_DIALOUT_MAX_RINGING", "DIALIN_SPEAKING", `"44"`, `"+0"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
