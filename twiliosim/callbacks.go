package twiliosim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/twiliotest"
)

// Callback is one webhook or status callback the Sim sent, with the bridge's answer.
type Callback struct {
	URL    string
	Form   url.Values
	Status int   // the bridge's answer; 0 when the request failed
	Err    error // why the request failed
}

// Event is the callback's StatusCallbackEvent, or its CallStatus for a call status callback.
func (c Callback) Event() string {
	if ev := c.Form.Get("StatusCallbackEvent"); ev != "" {
		return ev
	}
	return c.Form.Get("CallStatus")
}

// Delivered returns the callbacks sent so far, in the order they were sent.
func (s *Sim) Delivered() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Callback(nil), s.delivered...)
}

// Idle waits until every callback queued so far has been delivered, or ctx ends.
func (s *Sim) Idle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.idle.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for (len(s.queue) > 0 || s.sending) && !s.closed {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.idle.Wait()
	}
	return ctx.Err()
}

// enqueue queues a signed POST of form to u. Callbacks go out one at a time, in the order
// they were queued, as each stream of Twilio's would. The caller holds s.mu.
func (s *Sim) enqueue(u string, form url.Values) {
	if u == "" || s.closed {
		return
	}
	s.queue = append(s.queue, Callback{URL: u, Form: form})
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Sim) deliverLoop() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.idle.Broadcast()
			s.mu.Unlock()
			select {
			case <-s.ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		cb := s.queue[0]
		s.queue = s.queue[1:]
		s.sending = true
		s.mu.Unlock()

		cb.Status, cb.Err = s.post(cb.URL, cb.Form)

		s.mu.Lock()
		s.sending = false
		s.delivered = append(s.delivered, cb)
		s.mu.Unlock()
	}
}

// post sends one signed callback, as Twilio does: form-encoded, X-Twilio-Signature over the
// URL and the parameters, with an idempotency token.
func (s *Sim) post(u string, form url.Values) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(s.opts.AuthToken, u, form))
	req.Header.Set("I-Twilio-Idempotency-Token", s.newSID("")[:32])
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// fetchTwiML posts a voice webhook and returns the TwiML it answers, synchronously: a
// voice webhook is how Twilio learns what to do with the call next.
func (s *Sim) fetchTwiML(ctx context.Context, u string, form url.Values) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(s.opts.AuthToken, u, form))
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.delivered = append(s.delivered, Callback{URL: u, Form: form, Status: resp.StatusCode})
	s.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		return "", &Error{Status: resp.StatusCode, Code: 11200, Message: "HTTP retrieval failure: " + resp.Status}
	}
	return string(b), nil
}
