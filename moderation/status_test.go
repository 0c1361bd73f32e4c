package moderation

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/presence"
)

// TestTwilioMessageMasked: a 502 names Twilio's message, but a number Twilio quotes in it is
// masked, as every number the bridge shows or logs is.
func TestTwilioMessageMasked(t *testing.T) {
	err := fmt.Errorf("%w: The 'To' number +14155550123 is not a valid phone number.", presence.ErrTwilio)
	code, msg := status(err)
	if code != http.StatusBadGateway {
		t.Fatalf("status %d; want 502", code)
	}
	if strings.Contains(msg, "4155550123") || !strings.Contains(msg, "is not a valid phone number") {
		t.Fatalf("message %q: want Twilio's words with the number masked", msg)
	}
}
