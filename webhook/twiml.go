package webhook

import (
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/twiml"
)

// What callers hear.
const (
	sayPIN       = "Welcome. Please enter your meeting PIN, followed by the pound key."
	sayWrongPIN  = "That PIN was not recognised."
	sayGoodbye   = "Sorry, we could not find your meeting. Goodbye."
	sayNoMeeting = "This number is not connected to a meeting. Goodbye."
	sayNoInput   = "We did not receive a PIN. Goodbye."
)

// Defaults of the spoken prompts and of a call's length. Twilio retired the "alice" voice;
// Polly voices are current.
const (
	DefaultSayVoice        = "Polly.Joanna"
	DefaultSayLanguage     = "en-US"
	DefaultMaxCallDuration = 4 * time.Hour
)

// say is a spoken prompt in the configured voice and language.
func (h *Handler) say(message string) *twiml.VoiceSay {
	return &twiml.VoiceSay{Message: message, Voice: h.opts.SayVoice, Language: h.opts.SayLanguage}
}

// conferenceCallbackEvents is the statusCallbackEvent of every <Conference>: Twilio keeps
// the first participant's, so all must carry the same (see ConferenceEvents).
const conferenceCallbackEvents = "start end join leave mute hold"

// ConferenceEvents is the statusCallbackEvent list every join path asks for: every
// <Conference> and every dial-out, as Twilio keeps the first participant's. speaking adds
// the speaker event.
func ConferenceEvents(speaking bool) []string {
	evs := strings.Fields(conferenceCallbackEvents)
	if speaking {
		evs = append(evs, "speaker")
	}
	return evs
}

// joinTwiML puts the caller into its topic's conference.
func (h *Handler) joinTwiML(topicID string) (string, error) {
	// Topics come from the rooms file, so the cache is as small as the file.
	if x, ok := h.joins.Load(topicID); ok {
		return x.(string), nil
	}
	x, err := h.buildJoinTwiML(topicID)
	if err == nil {
		h.joins.Store(topicID, x)
	}
	return x, err
}

func (h *Handler) buildJoinTwiML(topicID string) (string, error) {
	return twiml.Voice([]twiml.Element{
		&twiml.VoiceDial{
			// Twilio's default would cut long meetings; the operator chooses.
			TimeLimit: strconv.Itoa(int(h.opts.MaxCallDuration / time.Second)),
			InnerElements: []twiml.Element{
				&twiml.VoiceConference{
					Name:                   topicID,
					StatusCallback:         h.opts.PublicURL + PathConference,
					StatusCallbackMethod:   "POST",
					StatusCallbackEvent:    strings.Join(ConferenceEvents(h.opts.Speaking), " "),
					StartConferenceOnEnter: "true",
					EndConferenceOnExit:    "false",
				},
			},
		},
	})
}

// pinTwiML asks for a PIN; attempt counts from 1. The attempt travels in the action URL,
// which Twilio signs, so a caller cannot reset it.
func (h *Handler) pinTwiML(attempt int, prelude string) (string, error) {
	var els []twiml.Element
	if prelude != "" {
		els = append(els, h.say(prelude))
	}
	els = append(els,
		&twiml.VoiceGather{
			Input:       "dtmf",
			FinishOnKey: "#",
			Action:      h.opts.PublicURL + PathPIN + "?attempt=" + strconv.Itoa(attempt),
			Method:      "POST",
			Timeout:     "10",
			InnerElements: []twiml.Element{
				h.say(sayPIN),
			},
		},
		h.say(sayNoInput),
		&twiml.VoiceHangup{},
	)
	return twiml.Voice(els)
}

func (h *Handler) goodbyeTwiML(message string) (string, error) {
	return twiml.Voice([]twiml.Element{
		h.say(message),
		&twiml.VoiceHangup{},
	})
}

// ValidSayVoice reports whether v names a voice Twilio's <Say> speaks: an Amazon Polly or
// Google voice ("Polly.Joanna", "Polly.Amy-Neural", "Google.en-US-Standard-C"), or the basic
// "man" or "woman". The retired "alice" is refused.
func ValidSayVoice(v string) bool {
	if v == "man" || v == "woman" {
		return true
	}
	engine, name, ok := strings.Cut(v, ".")
	if !ok || (engine != "Polly" && engine != "Google") || name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ValidSayLanguage reports whether l is a language tag as <Say language> takes it:
// "en-US", "fr-FR", "cmn-CN", "arb".
func ValidSayLanguage(l string) bool {
	lang, region, hasRegion := strings.Cut(l, "-")
	letters := func(s string, lo, hi int) bool {
		if len(s) < lo || len(s) > hi {
			return false
		}
		for _, r := range s {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return false
			}
		}
		return true
	}
	return letters(lang, 2, 3) && (!hasRegion || letters(region, 2, 3))
}

// MaxTimeLimit is the longest <Dial timeLimit> Twilio accepts.
const MaxTimeLimit = 24 * time.Hour
