// Package twilioapi is the bridge's use of Twilio's REST API, through twilio-go: hanging up a
// call, and listing the calls that are in conferences now. Every request, pagination
// included, goes to a configurable base URL so that tests can answer for Twilio.
package twilioapi

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// DefaultBaseURL is Twilio's API.
const DefaultBaseURL = "https://api.twilio.com"

// Timeout caps each REST request.
const Timeout = 10 * time.Second

// CallerTimeout bounds Caller, which a webhook may wait for: twilio-go takes no context.
const CallerTimeout = 3 * time.Second

// Client calls Twilio's REST API.
type Client struct {
	rest    *twilio.RestClient
	lookup  *twilio.RestClient // the same, with CallerTimeout
	observe func(operation string, err error)
}

// Observe sets a function told of every REST call's outcome, for metrics.
func (c *Client) Observe(f func(operation string, err error)) { c.observe = f }

func (c *Client) done(operation string, err error) error {
	if c.observe != nil {
		c.observe(operation, err)
	}
	return err
}

// New returns a client for the account, sending every request to baseURL.
func New(baseURL, accountSID, authToken string) (*Client, error) {
	base, err := url.Parse(baseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("twilio API URL %q is not an absolute URL", baseURL)
	}
	rest := func(timeout time.Duration) *twilio.RestClient {
		c := &client.Client{
			Credentials: client.NewCredentials(accountSID, authToken),
			HTTPClient: &http.Client{
				Timeout:   timeout,
				Transport: rebase{base: base, next: http.DefaultTransport},
			},
		}
		c.SetAccountSid(accountSID)
		return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
	}
	return &Client{rest: rest(Timeout), lookup: rest(CallerTimeout)}, nil
}

// rebase sends requests meant for Twilio's host to base instead.
type rebase struct {
	base *url.URL
	next http.RoundTripper
}

func (t rebase) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == t.base.Host && r.URL.Scheme == t.base.Scheme {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme = t.base.Scheme
	r.URL.Host = t.base.Host
	r.URL.Path = strings.TrimRight(t.base.Path, "/") + r.URL.Path
	r.Host = t.base.Host
	return t.next.RoundTrip(r)
}

// Hangup ends a call (Calls/{CallSid} with Status=completed).
func (c *Client) Hangup(ctx context.Context, callSID string) error {
	_, err := c.rest.Api.UpdateCall(callSID, (&openapi.UpdateCallParams{}).SetStatus("completed"))
	return c.done("update_call", classify("hang up call", err))
}

// Caller returns who placed a call, from Twilio's Calls resource: its From and the
// CallerName Twilio looked up (empty without caller-name lookup). It gives up after
// CallerTimeout.
func (c *Client) Caller(ctx context.Context, callSID string) (from, callerName string, err error) {
	call, err := c.lookup.Api.FetchCall(callSID, &openapi.FetchCallParams{})
	if err := c.done("fetch_call", classify("fetch call", err)); err != nil {
		return "", "", err
	}
	if call.From != nil {
		from = *call.From
	}
	if call.CallerName != nil {
		callerName = *call.CallerName
	}
	return from, callerName, nil
}

// Participant is a call in a conference in progress.
type Participant struct {
	CallSID       string
	ConferenceSID string
	Conference    string // the conference's friendly name
	Muted         bool
	Hold          bool
	Created       time.Time // when Twilio created the participant; zero when it does not say
}

// Live lists the participants of the conferences in progress, following pagination.
func (c *Client) Live(ctx context.Context) ([]Participant, error) {
	confs, err := c.rest.Api.ListConference((&openapi.ListConferenceParams{}).SetStatus("in-progress").SetPageSize(1000))
	if c.done("list_conferences", err) != nil {
		return nil, classify("list conferences", err)
	}
	var live []Participant
	for _, conf := range confs {
		if conf.Sid == nil {
			continue
		}
		name := ""
		if conf.FriendlyName != nil {
			name = *conf.FriendlyName
		}
		parts, err := c.rest.Api.ListParticipant(*conf.Sid, (&openapi.ListParticipantParams{}).SetPageSize(1000))
		if c.done("list_participants", err) != nil {
			return nil, classify("list participants", err)
		}
		for _, p := range parts {
			if p.CallSid == nil || (p.Status != nil && *p.Status == "complete") {
				continue
			}
			live = append(live, Participant{
				CallSID:       *p.CallSid,
				ConferenceSID: *conf.Sid,
				Conference:    name,
				Muted:         p.Muted != nil && *p.Muted,
				Hold:          p.Hold != nil && *p.Hold,
				Created:       created(p.DateCreated),
			})
		}
	}
	return live, nil
}

// created parses a date_created of Twilio's, such as "Thu, 01 Jun 2017 20:48:32 +0000".
func created(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	t, err := mail.ParseDate(*s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ValidSID reports whether s is a Twilio SID with the given two-letter prefix (CA for a
// call, CF for a conference, AC for an account): the prefix and 32 hexadecimal digits.
func ValidSID(s, prefix string) bool {
	if len(s) != 34 || s[:2] != prefix {
		return false
	}
	for _, r := range s[2:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}
