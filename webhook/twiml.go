package webhook

import (
	"strconv"

	"github.com/twilio/twilio-go/twiml"
)

// What callers hear.
const (
	sayPIN       = "Welcome. Please enter your meeting PIN, followed by the pound key."
	sayWrongPIN  = "That PIN was not recognised."
	sayGoodbye   = "Sorry, we could not find your meeting. Goodbye."
	sayNoMeeting = "This number is not connected to a meeting. Goodbye."
	sayNoInput   = "We did not receive a PIN. Goodbye."
	voice        = "alice"
)

// conferenceEvents is the statusCallbackEvent of every <Conference>: Twilio keeps the first
// participant's, so all must carry the same.
const conferenceCallbackEvents = "start end join leave mute hold"

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
			InnerElements: []twiml.Element{
				&twiml.VoiceConference{
					Name:                   topicID,
					StatusCallback:         h.opts.PublicURL + PathConference,
					StatusCallbackMethod:   "POST",
					StatusCallbackEvent:    conferenceCallbackEvents,
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
		els = append(els, &twiml.VoiceSay{Message: prelude, Voice: voice})
	}
	els = append(els,
		&twiml.VoiceGather{
			Input:       "dtmf",
			FinishOnKey: "#",
			Action:      h.opts.PublicURL + PathPIN + "?attempt=" + strconv.Itoa(attempt),
			Method:      "POST",
			Timeout:     "10",
			InnerElements: []twiml.Element{
				&twiml.VoiceSay{Message: sayPIN, Voice: voice},
			},
		},
		&twiml.VoiceSay{Message: sayNoInput, Voice: voice},
		&twiml.VoiceHangup{},
	)
	return twiml.Voice(els)
}

func goodbyeTwiML(message string) (string, error) {
	return twiml.Voice([]twiml.Element{
		&twiml.VoiceSay{Message: message, Voice: voice},
		&twiml.VoiceHangup{},
	})
}
