package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/dialin-bridge/dialin-bridge/twilioapi"
)

// request is a webhook that passed the checks every endpoint shares.
type request struct {
	ctx  context.Context
	form url.Values
	url  *url.URL // its query is parsed only by the endpoint that reads it
	log  *slog.Logger
}

// reply is what an endpoint answers: TwiML, or 204 when twiml is empty.
type reply struct {
	twiml  string
	result string // "ok" or "ignored"
}

type endpointFunc func(req request) (reply, error)

// endpoint wraps an endpoint with what every webhook needs, in this order: method, body cap,
// signature, then parsing.
func (h *Handler) endpoint(name string, fn endpointFunc) http.Handler {
	elog := h.log.With("endpoint", name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		log := elog
		fail := func(status int, result, reason string) {
			h.obs.Webhook(name, result, time.Since(start))
			log.Warn("webhook refused", "status", status, "reason", reason)
			http.Error(w, reason, status)
		}
		// Twilio calls with POST by default, or GET when the number is configured so: then
		// the parameters are in the query string, and no body is signed.
		var (
			form     url.Values
			parseErr error
			signed   url.Values
		)
		switch r.Method {
		case http.MethodPost:
			body, err := readBody(http.MaxBytesReader(w, r.Body, MaxBody), r.ContentLength)
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					fail(http.StatusRequestEntityTooLarge, "too_large", "request body over 64 KiB")
				} else {
					fail(http.StatusBadRequest, "bad_request", "cannot read request body")
				}
				return
			}
			form, parseErr = url.ParseQuery(body.String())
			bodies.Put(body)
			signed = form
		case http.MethodGet:
			form, parseErr = url.ParseQuery(r.URL.RawQuery)
		default:
			w.Header().Set("Allow", "GET, POST")
			fail(http.StatusMethodNotAllowed, "method", "webhooks must be POST or GET")
			return
		}
		if !h.opts.Dev && !h.signed(r, signed) {
			fail(http.StatusForbidden, "bad_signature", ErrBadSignature.Error())
			return
		}
		if parseErr != nil {
			fail(http.StatusBadRequest, "bad_request", "parameters are not a valid form")
			return
		}
		if cs := form.Get("CallSid"); twilioapi.ValidSID(cs, "CA") {
			log = slog.New(withCall{Handler: log.Handler(), sid: cs})
		}
		rep, err := fn(request{ctx: r.Context(), form: form, url: r.URL, log: log})
		switch {
		case errors.Is(err, ErrBadRequest):
			fail(http.StatusBadRequest, "bad_request", err.Error())
			return
		case err != nil:
			log.Error("webhook failed", "err", err)
			h.obs.Webhook(name, "error", time.Since(start))
			http.Error(w, "temporarily unable to process the webhook", http.StatusServiceUnavailable)
			return
		}
		h.obs.Webhook(name, rep.result, time.Since(start))
		// Each webhook's outcome and time are in the metrics; its line is for debugging (and
		// its arguments, a float among them, are not built unless it is written).
		if log.Enabled(r.Context(), slog.LevelDebug) {
			log.Debug("webhook", "result", rep.result, "took_ms", float64(time.Since(start).Microseconds())/1000)
		}
		if rep.twiml == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		io.WriteString(w, rep.twiml)
	})
}

// bodies are the buffers webhook bodies are read into. A body is copied into the string
// that is parsed, so its buffer goes back at once.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads all of r into a pooled buffer, to be put back into bodies; length, the
// request's Content-Length when known, sizes it so that reading takes no copying.
func readBody(r io.Reader, length int64) (*bytes.Buffer, error) {
	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	if length > 0 && length <= MaxBody {
		buf.Grow(int(length) + bytes.MinRead) // room for the read that finds the end
	}
	if _, err := buf.ReadFrom(r); err != nil {
		bodies.Put(buf)
		return nil, err
	}
	return buf, nil
}

// signed checks X-Twilio-Signature against the public URL plus the request's path and query,
// followed by the POST parameters (none for GET, whose parameters are in the signed query).
// The URL fragment Twilio may append for connection overrides (#rc=…) never reaches the
// server and is not signed.
//
// twilio-go's Validate signs the URL followed by each parameter's name and value, sorted by
// name; it formats each pair and appends it to the URL one string at a time, for each of the
// two URL variants it checks (with and without the default port), so that every check costs
// two HMACs. The URL as configured is checked first, with one HMAC (signedAs): Twilio signs
// the URL it was given, which is that one. Only a signature that does not match it goes to
// twilio-go's Validate, which checks both variants: it is handed the parameters already
// sorted and joined, as the one name of a one-entry map, so that the string it signs is the
// same, built with one concatenation.
func (h *Handler) signed(r *http.Request, form url.Values) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return false
	}
	keys := make([]string, 0, len(form))
	size := 0
	for k, vs := range form {
		if len(vs) != 1 {
			return false // Twilio's webhooks never repeat a parameter
		}
		keys = append(keys, k)
		size += len(k) + len(vs[0])
	}
	slices.Sort(keys) // by bytes, as Twilio sorts: "Reason" before "ReasonConferenceEnded"
	// What Twilio signs, the URL and then the parameters, in one pooled buffer.
	signedp := signedBufs.Get().(*[]byte)
	defer func() {
		if cap(*signedp) <= MaxBody {
			signedBufs.Put(signedp)
		}
	}()
	b := append((*signedp)[:0], h.opts.PublicURL...)
	b = append(b, r.URL.RequestURI()...)
	urlEnd := len(b)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, form[k][0]...)
	}
	*signedp = b
	if h.signedAs(b, sig) {
		return true
	}
	u := string(b[:urlEnd])
	var params map[string]string
	if len(keys) > 0 {
		params = map[string]string{string(b[urlEnd:]): ""}
	}
	return h.validator.Validate(u, params, sig)
}

// signedBufs are the buffers signed builds what Twilio signs in.
var signedBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// signedAs reports whether sig is Twilio's signature of s, a URL followed by the joined
// parameters: base64 of their HMAC-SHA1 keyed with the auth token, as twilio-go computes it.
func (h *Handler) signedAs(s []byte, sig string) bool {
	if len(sig) != base64.StdEncoding.EncodedLen(sha1.Size) {
		return false
	}
	var want [sha1.Size + 1]byte // DecodedLen of the encoded length: 21
	if n, err := base64.StdEncoding.Decode(want[:], []byte(sig)); err != nil || n != sha1.Size {
		return false
	}
	mac, _ := h.macs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha1.New, []byte(h.opts.AuthToken))
	}
	defer h.macs.Put(mac)
	mac.Reset()
	mac.Write(s)
	var sum [sha1.Size]byte
	return hmac.Equal(mac.Sum(sum[:0]), want[:sha1.Size])
}

// withCall adds a webhook's call_sid to each record it handles. Unlike Logger.With, which
// formats the attribute ahead for every webhook, it costs nothing until a line is written,
// and most webhooks write none.
type withCall struct {
	slog.Handler
	sid string
}

func (h withCall) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(slog.String("call_sid", h.sid))
	return h.Handler.Handle(ctx, r)
}

func (h withCall) WithAttrs(as []slog.Attr) slog.Handler {
	return withCall{Handler: h.Handler.WithAttrs(as), sid: h.sid}
}

func (h withCall) WithGroup(name string) slog.Handler {
	// A group would hold call_sid too: format it ahead, as Logger.With does.
	return h.Handler.WithAttrs([]slog.Attr{slog.String("call_sid", h.sid)}).WithGroup(name)
}
