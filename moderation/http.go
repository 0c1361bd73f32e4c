package moderation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBody caps a request body.
const MaxBody = 16 << 10

// CORS lets browsers on allowed origins call every handler under it (contract §6, with §3's
// origin rules): a preflight (OPTIONS with Access-Control-Request-Method) is answered here,
// 204 with the methods and headers the API takes, and every answer to an allowed origin
// echoes it with credentials allowed. origins nil allows any; a request from another origin
// is refused with 403. A request without Origin (not a browser's) passes.
func CORS(origins []string, next http.Handler) http.Handler {
	var allowed map[string]bool
	if origins != nil {
		allowed = make(map[string]bool, len(origins))
		for _, o := range origins {
			allowed[strings.ToLower(o)] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			if allowed != nil && !allowed[strings.ToLower(origin)] {
				WriteError(w, http.StatusForbidden, "origin not allowed")
				return
			}
			h := w.Header()
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions {
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			h.Set("Allow", "GET, POST, PATCH, DELETE, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WriteError answers {"error": message} with status; message is one line.
func WriteError(w http.ResponseWriter, status int, message string) {
	message = strings.ReplaceAll(message, "\n", " ")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dialin-bridge"`)
	}
	WriteJSON(w, status, map[string]string{"error": message})
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errBody marks a request body that is not what the endpoint takes; its text is the reason.
var errBody = errors.New("malformed body")

// DecodeBody reads a JSON object of at most MaxBody bytes into v: an unknown field, a wrong
// type, trailing data or a body too large is an error naming what is wrong.
func DecodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return fmt.Errorf("%w: body over %d bytes", errBody, MaxBody)
		case errors.As(err, &typ):
			return fmt.Errorf("%w: %s must be %s", errBody, typ.Field, typ.Type)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: a JSON object is required", errBody)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return fmt.Errorf("%w: %s", errBody, strings.TrimPrefix(err.Error(), "json: "))
		}
		return fmt.Errorf("%w: not a JSON object", errBody)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object", errBody)
	}
	return nil
}
