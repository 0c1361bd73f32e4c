package presence

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
)

// Errors of the actions on phone parties (contract §6); each maps to one HTTP status.
var (
	// ErrNotConnected: the party cannot take the change now (a dial-out still ringing).
	ErrNotConnected = errors.New("the party is not connected yet")
	// ErrDialOutOff: dial-out is not configured.
	ErrDialOutOff = errors.New("dial-out is not configured")
	// ErrBadNumber: the destination is not an E.164 number.
	ErrBadNumber = errors.New("the destination is not an E.164 number")
	// ErrDestination: the destination matches none of the allowed prefixes.
	ErrDestination = errors.New("the destination is not allowed")
	// ErrTooManyRinging: the topic has as many dial-outs ringing as it may.
	ErrTooManyRinging = errors.New("too many dial-outs of the topic ringing at once")
	// ErrTwilio: Twilio refused or did not answer in time; the error names Twilio's message.
	ErrTwilio = errors.New("Twilio refused")
)

// twilioError is err from Twilio as ErrTwilio with Twilio's own message.
// digitRuns finds what may be a phone number in a message from Twilio.
var digitRuns = regexp.MustCompile(`\+?\d{7,}`)

func twilioError(err error) error {
	// Twilio's messages may quote the number ("The 'To' number … is not valid").
	return fmt.Errorf("%w: %s", ErrTwilio, digitRuns.ReplaceAllStringFunc(twilioapi.Message(err), mapper.Mask))
}

// DialOutOptions configure dial-out.
type DialOutOptions struct {
	// From is the Twilio number dial-outs call from; empty turns dial-out off.
	From string
	// Prefixes are the E.164 prefixes a destination must start with; none allows nothing.
	Prefixes []string
	// MaxRinging is how many dial-outs of one topic may ring at once.
	MaxRinging int
	// Call is the rest of Twilio's request: timeouts, callbacks, conference events.
	Call twilioapi.DialOut
}

// party returns the call sid if it is a phone party of the topic now: online, or a dial-out
// ringing. ErrUnknownParty otherwise.
func (c *Core) party(ctx context.Context, topicID, sid string) (roster.Call, error) {
	call, found, err := c.roster.Get(ctx, sid)
	if err != nil {
		return roster.Call{}, fmt.Errorf("look up call: %w", err)
	}
	if !found || call.TopicID != topicID || !(call.State == roster.Online || (call.State == roster.Dialing && call.DialOut)) {
		return roster.Call{}, ErrUnknownParty
	}
	return call, nil
}

// SetMedia mutes or unmutes, holds or unholds a phone party through Twilio (nil: left as
// it is). The room sees the change when Twilio reports it.
func (c *Core) SetMedia(ctx context.Context, topicID, sid string, muted, hold *bool) error {
	call, err := c.party(ctx, topicID, sid)
	if err != nil {
		return err
	}
	if call.State != roster.Online || call.ConferenceSID == "" {
		return ErrNotConnected
	}
	if c.opts.Twilio == nil {
		return fmt.Errorf("update participant: %w", ErrNoTwilio)
	}
	if err := c.opts.Twilio.UpdateParticipant(ctx, call.ConferenceSID, sid, muted, hold); err != nil {
		return twilioError(err)
	}
	return nil
}

// Failure is a party a MuteAll could not change.
type Failure struct {
	CallSID string `json:"callSid"`
	Error   string `json:"error"`
}

// muteAllWorkers is how many Twilio requests one MuteAll has in flight at once.
const muteAllWorkers = 4

// MuteAll mutes (or unmutes) every connected phone party of the topic whose state differs,
// except those listed, and returns those asked for and those Twilio refused.
func (c *Core) MuteAll(ctx context.Context, topicID string, muted bool, except []string) (requested []string, failed []Failure, err error) {
	calls, err := c.roster.Parties(ctx, topicID)
	if err != nil {
		return nil, nil, err
	}
	var todo []roster.Call
	for _, call := range calls {
		if call.State == roster.Online && call.Muted != muted && call.ConferenceSID != "" && !slices.Contains(except, call.CallSID) {
			todo = append(todo, call)
		}
	}
	requested, failed = []string{}, []Failure{}
	if len(todo) == 0 {
		return requested, failed, nil
	}
	if c.opts.Twilio == nil {
		return nil, nil, fmt.Errorf("update participant: %w", ErrNoTwilio)
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan roster.Call)
	)
	for range min(muteAllWorkers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for call := range next {
				err := c.opts.Twilio.UpdateParticipant(ctx, call.ConferenceSID, call.CallSID, &muted, nil)
				mu.Lock()
				if err != nil {
					failed = append(failed, Failure{CallSID: call.CallSID, Error: twilioError(err).Error()})
				} else {
					requested = append(requested, call.CallSID)
				}
				mu.Unlock()
			}
		}()
	}
	for _, call := range todo {
		next <- call
	}
	close(next)
	wg.Wait()
	return requested, failed, nil
}

// dials counts the dial-outs being placed, by topic: between the check of the limit and the
// store's record of the call, a dial-out is counted here.
type dials struct {
	mu      sync.Mutex
	placing map[string]int
}

func (d *dials) add(topicID string, n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.placing == nil {
		d.placing = map[string]int{}
	}
	d.placing[topicID] += n
	v := d.placing[topicID]
	if v == 0 {
		delete(d.placing, topicID)
	}
	return v
}

// DialOut calls the number to into the topic's conference and returns the call's SID. The
// party is named displayname if given, else as the directory or DIALIN_CALLER_ID names the
// number. The room sees it ringing once Twilio says so. Checks, in order: dial-out
// configured, an E.164 destination, an allowed prefix, room for one more ringing.
func (c *Core) DialOut(ctx context.Context, topicID, to, displayname string) (string, error) {
	d := c.opts.DialOut
	if d.From == "" {
		return "", ErrDialOutOff
	}
	if !mapper.IsE164(to) {
		return "", ErrBadNumber
	}
	if !slices.ContainsFunc(d.Prefixes, func(p string) bool { return strings.HasPrefix(to, p) }) {
		return "", ErrDestination
	}
	if c.opts.Twilio == nil {
		return "", fmt.Errorf("dial out: %w", ErrNoTwilio)
	}
	// The limit counts the dial-outs stored as dialing and those being placed (this one
	// included): each is counted in one or the other until it joins or ends, so concurrent
	// requests never exceed it (they may, rarely, both be refused).
	placing := c.dials.add(topicID, 1)
	defer c.dials.add(topicID, -1)
	ringing, err := c.roster.Dialing(ctx, topicID)
	if err != nil {
		return "", err
	}
	if ringing+placing > max(d.MaxRinging, 1) {
		return "", ErrTooManyRinging
	}
	id := roster.Identity{DisplayName: mapper.HiddenName, PictureURL: c.opts.DefaultPictureURL, Masked: mapper.Mask(to)}
	if c.opts.Identify != nil {
		id = c.opts.Identify(to, "")
	}
	if displayname != "" {
		id.DisplayName = displayname
	}
	call := d.Call
	call.From, call.To = d.From, to
	sid, err := c.opts.Twilio.CreateParticipant(ctx, topicID, call)
	if err != nil {
		return "", twilioError(err)
	}
	ch, err := c.roster.DialOut(ctx, sid, topicID, id)
	if err != nil {
		c.publishMade(err)
		// The call rings all the same; its callbacks find no record and it is not shown
		// until it joins (named from Twilio's Calls resource).
		c.log.Error("cannot store the dial-out", "call_sid", sid, "topic", topicID, "err", err)
		return sid, nil
	}
	c.publish(ch)
	return sid, nil
}
