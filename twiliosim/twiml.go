package twiliosim

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// node is a TwiML element.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if strings.EqualFold(a.Name.Local, name) {
			return a.Value
		}
	}
	return ""
}

func parseTwiML(x string) (node, error) {
	var root node
	if err := xml.Unmarshal([]byte(x), &root); err != nil {
		return node{}, fmt.Errorf("malformed TwiML: %w", err)
	}
	if root.XMLName.Local != "Response" {
		return node{}, fmt.Errorf("TwiML root is <%s>, not <Response>", root.XMLName.Local)
	}
	return root, nil
}

// execute makes call c do what TwiML x says, as far as the bridge's TwiML goes: <Say>,
// <Play> and <Pause> pass; <Gather> waits for Digits; <Dial><Conference> joins the
// conference (and the call waits there); <Redirect> waits for FollowRedirect, or follows
// after Options.RedirectAfter; <Hangup> and the end of the document end the call.
func (s *Sim) execute(c *call, x string) error {
	root, err := parseTwiML(x)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.final() {
		return nil
	}
	if err != nil {
		s.endCall(c, "completed", "participant_hung_up")
		return err
	}
	if c.status == "ringing" || c.status == "queued" {
		s.setStatus(c, "in-progress")
	}
	for _, verb := range root.Nodes {
		switch verb.XMLName.Local {
		case "Say", "Play", "Pause":
		case "Gather":
			c.gather = verb.attr("action")
			return nil
		case "Redirect":
			c.redirect = strings.TrimSpace(verb.Text)
			if d := s.opts.RedirectAfter; d > 0 {
				sid := c.sid
				s.after(d, func() { s.FollowRedirect(s.ctx, sid) })
			}
			return nil
		case "Dial":
			for _, n := range verb.Nodes {
				if n.XMLName.Local != "Conference" {
					continue
				}
				cf := s.conferenceNamed(strings.TrimSpace(n.Text))
				p := s.enter(c, cf, conferenceSettings{
					url:     n.attr("statusCallback"),
					events:  n.attr("statusCallbackEvent"),
					start:   n.attr("startConferenceOnEnter") != "false",
					endExit: n.attr("endConferenceOnExit") == "true",
					muted:   n.attr("muted") == "true",
				}, "connecting")
				s.connect(cf, p)
				return nil
			}
			// A <Dial> of anything else is not the bridge's; the call ends.
		case "Hangup", "Reject":
			s.endCall(c, "completed", "participant_hung_up")
			return nil
		}
	}
	s.endCall(c, "completed", "participant_hung_up")
	return nil
}
