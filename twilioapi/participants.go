package twilioapi

import (
	"context"
	"errors"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// UpdateParticipant mutes or unmutes, holds or unholds a participant of a conference
// (Conferences/{ConferenceSid}/Participants/{CallSid}); a nil value is left as it is.
func (c *Client) UpdateParticipant(ctx context.Context, conferenceSID, callSID string, muted, hold *bool) error {
	params := &openapi.UpdateParticipantParams{}
	if muted != nil {
		params.SetMuted(*muted)
	}
	if hold != nil {
		params.SetHold(*hold)
	}
	_, err := c.api(ctx, Timeout).UpdateParticipant(conferenceSID, callSID, params)
	return c.done("update_participant", classify("update participant", err))
}

// DialOut is a participant to call into a conference.
type DialOut struct {
	From, To string
	// Timeout is how long it may ring, in seconds; TimeLimit how long the call may last.
	Timeout, TimeLimit int
	// StatusCallback receives the call's status callbacks (initiated ringing answered
	// completed).
	StatusCallback string
	// ConferenceCallback and ConferenceEvents are the conference's status callback and
	// events, the same as every <Conference> of a dial-in asks for.
	ConferenceCallback string
	ConferenceEvents   []string
}

// CallStatusEvents are the call status callbacks a dial-out asks for.
var CallStatusEvents = []string{"initiated", "ringing", "answered", "completed"}

// CreateParticipant calls d.To into the conference of that friendly name (Twilio starts it
// if it is not running) and returns the new call's SID.
func (c *Client) CreateParticipant(ctx context.Context, conference string, d DialOut) (string, error) {
	params := (&openapi.CreateParticipantParams{}).
		SetFrom(d.From).
		SetTo(d.To).
		SetTimeout(d.Timeout).
		SetStatusCallback(d.StatusCallback).
		SetStatusCallbackMethod("POST").
		SetStatusCallbackEvent(CallStatusEvents).
		SetConferenceStatusCallback(d.ConferenceCallback).
		SetConferenceStatusCallbackMethod("POST").
		SetConferenceStatusCallbackEvent(d.ConferenceEvents).
		SetStartConferenceOnEnter(true).
		SetEndConferenceOnExit(false).
		SetBeep("true")
	if d.TimeLimit > 0 {
		params.SetTimeLimit(d.TimeLimit)
	}
	p, err := c.api(ctx, Timeout).CreateParticipant(conference, params)
	if err := c.done("create_participant", classify("create participant", err)); err != nil {
		return "", err
	}
	if p.CallSid == nil || !ValidSID(*p.CallSid, "CA") {
		return "", errors.New("create participant: Twilio's answer names no call")
	}
	return *p.CallSid, nil
}

// CallStatus returns a call's status as Twilio's Calls resource gives it.
func (c *Client) CallStatus(ctx context.Context, callSID string) (string, error) {
	call, err := c.api(ctx, Timeout).FetchCall(callSID, &openapi.FetchCallParams{})
	if err := c.done("fetch_call", classify("fetch call", err)); err != nil {
		return "", err
	}
	if call.Status == nil {
		return "", errors.New("fetch call: no status")
	}
	return *call.Status, nil
}

// Message is Twilio's own message of an error it answered, or err's text.
func Message(err error) string {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return te.Message
	}
	return err.Error()
}
