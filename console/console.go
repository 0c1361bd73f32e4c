// Package console serves the operator console (contract §9): one page, its stylesheet and
// script, and the socket.io 2.x browser bundle, all embedded in the binary. The page talks to
// the bridge only through what any client has: GET /api/topics, the §3 socket, and the §6 and
// §7 endpoints (and, in development mode, the simulator's, see package devsim). Nothing is
// built: the files under static/ are served as they are.
//
// static/vendor/socket.io.js is dist/socket.io.js of the npm package socket.io-client 2.5.0,
// and socket.io-client.LICENSE its licence; scripts/vendor-socketio.sh refreshes both.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
)

// Path is the console's address; its files are served below Path + "/".
const Path = "/console"

// CSP is the Content-Security-Policy of every answer: scripts, styles, connections (the
// socket included: 'self' covers ws: and wss: on the same host) and images come from the
// bridge alone, and nothing may frame the page. A string slipped into the page as HTML could
// run nothing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

// file is one embedded file as served.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// files maps a name below Path to its file; "" is the page.
var files = map[string]file{}

func init() {
	for name, src := range map[string]struct{ path, contentType string }{
		"":                         {"static/index.html", "text/html; charset=utf-8"},
		"console.css":              {"static/console.css", "text/css; charset=utf-8"},
		"console.js":               {"static/console.js", "text/javascript; charset=utf-8"},
		"socket.io.js":             {"static/vendor/socket.io.js", "text/javascript; charset=utf-8"},
		"socket.io-client.LICENSE": {"static/vendor/socket.io-client.LICENSE", "text/plain; charset=utf-8"},
	} {
		b, err := static.ReadFile(src.path)
		if err != nil {
			panic("console: embedded file missing: " + err.Error())
		}
		sum := sha256.Sum256(b)
		files[name] = file{body: b, contentType: src.contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
}

// Handler serves Path (the page) and its files below Path + "/", for GET and HEAD. Mount it on
// both: mux.Handle("GET "+console.Path, h) and mux.Handle("GET "+console.Path+"/", h).
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, Path)
		if ok {
			name = strings.TrimPrefix(name, "/")
		}
		f, found := files[name]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// The files change only with the binary: a browser revalidates, and gets 304 while
		// the build is the same.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("Content-Type", f.contentType)
		if match := r.Header.Get("If-None-Match"); match != "" && match == f.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		w.Write(f.body)
	})
}
