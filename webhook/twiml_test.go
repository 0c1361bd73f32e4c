package webhook_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// says returns every <Say> in n.
func says(n node) []node {
	var out []node
	if n.XMLName.Local == "Say" {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, says(c)...)
	}
	return out
}

// TestSpokenPromptsAndTimeLimit: every prompt is spoken in the configured voice and language
// (by default a current Polly voice, never Twilio's retired "alice"), and every <Dial> has
// the configured time limit in seconds (by default 4 hours).
func TestSpokenPromptsAndTimeLimit(t *testing.T) {
	sid := callSID(70)
	const unrouted = "+15005550009"
	answers := []struct {
		name string
		path string
		form url.Values
		dial bool
	}{
		{"PIN prompt", webhook.PathVoice, voiceForm(sid, unknownCaller, unrouted), false},
		{"wrong PIN", webhook.PathPIN + "?attempt=1", pinForm(sid, unknownCaller, unrouted, "000000"), false},
		{"third wrong PIN", webhook.PathPIN + "?attempt=3", pinForm(sid, unknownCaller, unrouted, "000000"), false},
		{"right PIN", webhook.PathPIN + "?attempt=2", pinForm(sid, unknownCaller, unrouted, pinA), true},
		{"routed call", webhook.PathVoice, voiceForm(sid, unknownCaller, numA), true},
	}
	configs := []struct {
		name            string
		voice, language string
		max             time.Duration
		wantVoice       string
		wantLanguage    string
		wantLimit       string
	}{
		{"defaults", "", "", 0, "Polly.Joanna", "en-US", "14400"},
		{"configured", "Polly.Amy-Neural", "en-GB", 90 * time.Minute, "Polly.Amy-Neural", "en-GB", "5400"},
	}
	for _, cfg := range configs {
		for _, a := range answers {
			t.Run(cfg.name+"/"+a.name, func(t *testing.T) {
				b := newBridge(t, withOptions(func(o *webhook.Options) {
					o.SayVoice, o.SayLanguage, o.MaxCallDuration = cfg.voice, cfg.language, cfg.max
				}))
				root := parseTwiML(t, b.post(a.path, a.form, http.StatusOK))
				if dial, ok := root.find("Dial"); ok != a.dial {
					t.Fatalf("Dial present %v; want %v", ok, a.dial)
				} else if ok {
					if got, _ := dial.attr("timeLimit"); got != cfg.wantLimit {
						t.Errorf("Dial timeLimit %q; want %q", got, cfg.wantLimit)
					}
					return
				}
				ss := says(root)
				if len(ss) == 0 {
					t.Fatal("no Say")
				}
				for _, s := range ss {
					voice, _ := s.attr("voice")
					lang, _ := s.attr("language")
					if voice != cfg.wantVoice || lang != cfg.wantLanguage {
						t.Errorf("Say %q in voice %q language %q; want %q %q", s.Text, voice, lang, cfg.wantVoice, cfg.wantLanguage)
					}
				}
			})
		}
	}
	t.Run("goodbye of a number without a meeting", func(t *testing.T) {
		b := newBridge(t, withRooms("rooms-nopins.json"))
		root := parseTwiML(t, b.post(webhook.PathVoice, voiceForm(sid, unknownCaller, unrouted), http.StatusOK))
		for _, s := range says(root) {
			if voice, _ := s.attr("voice"); voice != "Polly.Joanna" {
				t.Errorf("Say in voice %q; want Polly.Joanna", voice)
			}
		}
	})
}

func TestValidSay(t *testing.T) {
	voices := map[string]bool{
		"Polly.Joanna": true, "Polly.Amy-Neural": true, "Polly.Matthew-Generative": true,
		"Google.en-US-Standard-C": true, "man": true, "woman": true,
		"alice": false, "Alice": false, "": false, "Polly.": false, "Polly": false,
		"Polly.Joanna Neural": false, "Azure.Jenny": false, "polly.joanna": false,
	}
	for v, want := range voices {
		if got := webhook.ValidSayVoice(v); got != want {
			t.Errorf("ValidSayVoice(%q) = %v; want %v", v, got, want)
		}
	}
	languages := map[string]bool{
		"en-US": true, "en-GB": true, "fr-FR": true, "cmn-CN": true, "arb": true,
		"": false, "en_US": false, "english": false, "en-": false, "e": false, "en-US-x": false,
	}
	for l, want := range languages {
		if got := webhook.ValidSayLanguage(l); got != want {
			t.Errorf("ValidSayLanguage(%q) = %v; want %v", l, got, want)
		}
	}
}
