package twilioapi

import (
	"context"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// Move gives a live call new TwiML at once (Calls/{CallSid} with Twiml): a caller waiting in
// a lobby is moved into its conference, or told it was not let in and hung up, this way.
func (c *Client) Move(ctx context.Context, callSID, twiml string) error {
	_, err := c.api(ctx, Timeout).UpdateCall(callSID, (&openapi.UpdateCallParams{}).SetTwiml(twiml))
	return c.done("update_call", classify("update call", err))
}
