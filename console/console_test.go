package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/console"
)

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	h := console.Handler()
	mux.Handle("GET "+console.Path, h)
	mux.Handle("GET "+console.Path+"/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestFiles: the page and each file it loads are served with their type, the strict
// Content-Security-Policy and nosniff; anything else below /console is 404; the page loads
// nothing from elsewhere.
func TestFiles(t *testing.T) {
	srv := serve(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/console", "text/html; charset=utf-8", `<label for="token">Token</label>`},
		{"/console/", "text/html; charset=utf-8", `<script src="/console/socket.io.js" defer></script>`},
		{"/console/console.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/console/console.js", "text/javascript; charset=utf-8", "textContent"},
		{"/console/socket.io.js", "text/javascript; charset=utf-8", "Socket.IO v2.5."},
		{"/console/socket.io-client.LICENSE", "text/plain; charset=utf-8", "The MIT License"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d; want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q; want %q", got, tc.contentType)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP || !strings.HasPrefix(got, "default-src 'self';") {
				t.Errorf("Content-Security-Policy %q; want %q", got, console.CSP)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q; want nosniff", got)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}
	for _, path := range []string{"/console/index.html", "/console/static/console.js", "/consolex", "/console/vendor/socket.io.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d; want 404", path, resp.StatusCode)
		}
	}
}

// TestPageLoadsOnlyItsOwn: the page, its stylesheet and its script name no other origin: no
// CDN, no font service.
func TestPageLoadsOnlyItsOwn(t *testing.T) {
	srv := serve(t)
	for _, path := range []string{"/console", "/console/console.css", "/console/console.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s holds %q", path, bad)
			}
		}
	}
}

// TestRevalidate: an unchanged file is answered 304 to its ETag; HEAD has no body.
func TestRevalidate(t *testing.T) {
	srv := serve(t)
	resp, err := http.Get(srv.URL + "/console/console.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q; want an ETag and no-cache", etag, resp.Header.Get("Cache-Control"))
	}
	req, _ := http.NewRequest("GET", srv.URL+"/console/console.js", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d; want 304", resp.StatusCode)
	}
	resp, err = http.Head(srv.URL + "/console")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d with %d bytes; want 200, none", resp.StatusCode, len(body))
	}
}
