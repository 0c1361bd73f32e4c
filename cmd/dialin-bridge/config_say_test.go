package main

import (
	"strings"
	"testing"
	"time"
)

// TestLoadConfigSayAndCallDuration: DIALIN_SAY_VOICE, DIALIN_SAY_LANGUAGE and
// DIALIN_MAX_CALL_DURATION as an operator sets them; a bad value stops the start with a
// message naming the variable.
func TestLoadConfigSayAndCallDuration(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		voice string
		lang  string
		max   time.Duration
		bad   []string // variables the error must name; none: valid
	}{
		{"defaults", nil, "Polly.Joanna", "en-US", 4 * time.Hour, nil},
		{"set", map[string]string{"DIALIN_SAY_VOICE": "Polly.Amy-Neural", "DIALIN_SAY_LANGUAGE": "en-GB", "DIALIN_MAX_CALL_DURATION": "90m"},
			"Polly.Amy-Neural", "en-GB", 90 * time.Minute, nil},
		{"Google voice, a day at most", map[string]string{"DIALIN_SAY_VOICE": "Google.fr-FR-Standard-A", "DIALIN_SAY_LANGUAGE": "fr-FR", "DIALIN_MAX_CALL_DURATION": "24h"},
			"Google.fr-FR-Standard-A", "fr-FR", 24 * time.Hour, nil},
		{"retired alice", map[string]string{"DIALIN_SAY_VOICE": "alice"}, "", "", 0, []string{"DIALIN_SAY_VOICE"}},
		{"unknown voice", map[string]string{"DIALIN_SAY_VOICE": "Joanna"}, "", "", 0, []string{"DIALIN_SAY_VOICE"}},
		{"language not a tag", map[string]string{"DIALIN_SAY_LANGUAGE": "english"}, "", "", 0, []string{"DIALIN_SAY_LANGUAGE"}},
		{"duration without unit", map[string]string{"DIALIN_MAX_CALL_DURATION": "14400"}, "", "", 0, []string{"DIALIN_MAX_CALL_DURATION"}},
		{"zero duration", map[string]string{"DIALIN_MAX_CALL_DURATION": "0s"}, "", "", 0, []string{"DIALIN_MAX_CALL_DURATION"}},
		{"negative duration", map[string]string{"DIALIN_MAX_CALL_DURATION": "-1h"}, "", "", 0, []string{"DIALIN_MAX_CALL_DURATION"}},
		{"duration over Twilio's 24 hours", map[string]string{"DIALIN_MAX_CALL_DURATION": "25h"}, "", "", 0, []string{"DIALIN_MAX_CALL_DURATION"}},
		{"all three bad", map[string]string{"DIALIN_SAY_VOICE": "alice", "DIALIN_SAY_LANGUAGE": "en_US", "DIALIN_MAX_CALL_DURATION": "forever"},
			"", "", 0, []string{"DIALIN_SAY_VOICE", "DIALIN_SAY_LANGUAGE", "DIALIN_MAX_CALL_DURATION"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setProductionEnv(t)
			setEnv(t, tc.env)
			c, err := loadConfig()
			if len(tc.bad) > 0 {
				if err == nil {
					t.Fatalf("loadConfig succeeded: %s", dump(c))
				}
				for _, n := range tc.bad {
					if !strings.Contains(err.Error(), n) {
						t.Errorf("error %q does not name %s", err, n)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if c.SayVoice != tc.voice || c.SayLanguage != tc.lang || c.MaxCallDuration != tc.max {
				t.Errorf("voice %q language %q max %v; want %q %q %v", c.SayVoice, c.SayLanguage, c.MaxCallDuration, tc.voice, tc.lang, tc.max)
			}
		})
	}
}
