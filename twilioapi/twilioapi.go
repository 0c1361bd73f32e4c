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

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// DefaultBaseURL is Twilio's API.
const DefaultBaseURL = "https://api.twilio.com"

// Timeout caps each REST request, whatever its ctx allows.
const Timeout = 10 * time.Second

// CallerTimeout caps Caller, which a webhook may wait for.
const CallerTimeout = 3 * time.Second

// Client calls Twilio's REST API. twilio-go builds every request with context.Background(),
// so each call goes through a client of its own whose transport gives the request the
// call's ctx: the request ends when that ctx does, or after the call's timeout, whichever
// comes first.
type Client struct {
	accountSID string
	authToken  string
	transport  http.RoundTripper
	observe    func(operation string, err error)
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
	return &Client{accountSID: accountSID, authToken: authToken,
		transport: rebase{base: base, next: http.DefaultTransport}}, nil
}

// api is twilio-go's API service for one call: each of its requests ends when ctx does, and
// timeout after it started at the latest.
func (c *Client) api(ctx context.Context, timeout time.Duration) *openapi.ApiService {
	rc := &client.Client{
		Credentials: client.NewCredentials(c.accountSID, c.authToken),
		HTTPClient:  &http.Client{Timeout: timeout, Transport: bound{ctx: ctx, next: c.transport}},
	}
	rc.SetAccountSid(c.accountSID)
	return openapi.NewApiServiceWithClient(rc)
}

// bound gives every request the lifetime of ctx as well as its own: http.Client's Timeout
// puts a deadline on the request's context and cancels it once the body is closed, and ctx
// ending cancels it too. Nothing is left behind: the AfterFunc on ctx is stopped when the
// request's context ends, which the Timeout guarantees.
type bound struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t bound) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	context.AfterFunc(ctx, func() { stop() })
	resp, err := t.next.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		if cerr := t.ctx.Err(); cerr != nil {
			// Say why: the owner's ctx ended (context.DeadlineExceeded or Canceled).
			return nil, fmt.Errorf("%w (%v)", cerr, err)
		}
	}
	return resp, err
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

// Hangup ends a call (Calls/{CallSid} with Status=completed). It returns when ctx ends, at
// the latest.
func (c *Client) Hangup(ctx context.Context, callSID string) error {
	_, err := c.api(ctx, Timeout).UpdateCall(callSID, (&openapi.UpdateCallParams{}).SetStatus("completed"))
	return c.done("update_call", classify("hang up call", err))
}

// Caller returns who placed a call, from Twilio's Calls resource: its From and the
// CallerName Twilio looked up (empty without caller-name lookup). It gives up after
// CallerTimeout, or when ctx ends.
func (c *Client) Caller(ctx context.Context, callSID string) (from, callerName string, err error) {
	call, err := c.api(ctx, CallerTimeout).FetchCall(callSID, &openapi.FetchCallParams{})
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
	// Status is Twilio's participant status: queued, connecting, ringing, connected.
	Status string
}

// Live lists the participants of the conferences in progress, following pagination. Each
// request is capped by Timeout, and all of them end when ctx does.
func (c *Client) Live(ctx context.Context) ([]Participant, error) {
	api := c.api(ctx, Timeout)
	confs, err := api.ListConference((&openapi.ListConferenceParams{}).SetStatus("in-progress").SetPageSize(1000))
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
		parts, err := api.ListParticipant(*conf.Sid, (&openapi.ListParticipantParams{}).SetPageSize(1000))
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
				Status:        status(p.Status),
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

func status(s *string) string {
	if s == nil {
		return "connected"
	}
	return *s
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
