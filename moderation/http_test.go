package moderation

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCORS: preflights from allowed origins are answered here with the API's methods and
// headers; answers echo an allowed origin with credentials; other origins are refused;
// requests without Origin pass untouched.
func TestCORS(t *testing.T) {
	reached := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++; w.WriteHeader(202) })
	for _, tc := range []struct {
		name     string
		origins  []string
		method   string
		origin   string
		status   int
		echo     bool
		forwards bool
	}{
		{"any origin, preflight", nil, "OPTIONS", "https://a.example", 204, true, false},
		{"any origin, request", nil, "PATCH", "https://a.example", 202, true, true},
		{"listed origin", []string{"https://A.example"}, "DELETE", "https://a.example", 202, true, true},
		{"listed origin, preflight", []string{"https://a.example"}, "OPTIONS", "https://a.example", 204, true, false},
		{"other origin, preflight", []string{"https://a.example"}, "OPTIONS", "https://b.example", 403, false, false},
		{"other origin, request", []string{"https://a.example"}, "POST", "https://b.example", 403, false, false},
		{"no origin", []string{"https://a.example"}, "POST", "", 202, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached = 0
			req := httptest.NewRequest(tc.method, "/api/topics/t/mute", nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "PATCH")
			}
			w := httptest.NewRecorder()
			CORS(tc.origins, next).ServeHTTP(w, req)
			h := w.Header()
			if w.Code != tc.status || (reached == 1) != tc.forwards {
				t.Errorf("status %d, reached %d", w.Code, reached)
			}
			if got := h.Get("Access-Control-Allow-Origin"); (got == tc.origin && got != "") != tc.echo {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			if tc.echo && h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Error("credentials not allowed")
			}
			if tc.method == "OPTIONS" && tc.status == 204 &&
				(h.Get("Access-Control-Allow-Methods") != "GET, POST, PATCH, DELETE" || h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type") {
				t.Errorf("preflight headers %v", h)
			}
			if w.Code == 403 && !strings.HasPrefix(w.Body.String(), `{"error":`) {
				t.Errorf("refusal body %q", w.Body.String())
			}
		})
	}
}

// TestDecodeBody: one JSON object of known fields, within the cap; anything else is an
// error naming what is wrong.
func TestDecodeBody(t *testing.T) {
	type body struct {
		Muted *bool    `json:"muted"`
		List  []string `json:"except"`
	}
	for _, tc := range []struct{ in, says string }{
		{`{"muted":true}`, ""},
		{`{"muted":true,"except":["a"]}  `, ""},
		{``, "JSON object is required"},
		{`{"muted":1}`, "muted must be bool"},
		{`{"mute":true}`, `unknown field "mute"`},
		{`{"muted":true}{"muted":false}`, "data after"},
		{`{"muted":true} x`, "data after"},
		{`[true]`, "must be"},
		{`{"except":"` + strings.Repeat("a", MaxBody) + `"}`, "body over"},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
		var b body
		err := DecodeBody(httptest.NewRecorder(), req, &b)
		switch {
		case tc.says == "" && err != nil:
			t.Errorf("%.40q: %v", tc.in, err)
		case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%.40q: %v; want it to say %q", tc.in, err, tc.says)
		}
	}
}
