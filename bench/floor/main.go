// Command floor is the cost floor the load tool's CPU figures are read against: a server
// that does only what no webhook-to-socket.io bridge can avoid, on the same libraries. It
// answers the four webhooks of a dial-in with fixed bodies after parsing their forms, and
// for each participant-join and participant-leave writes one presence event of the bridge's
// size to every subscribed socket.io-client 2.x, straight from the webhook's goroutine. It
// keeps no roster, checks no signature, logs nothing, and speaks only as much Engine.IO
// and socket.io over WebSocket as the load tool's subscribers need. Run the load tool
// against it exactly as against the bridge:
//
//	go build -o /tmp/floor ./bench/floor && /tmp/floor -addr 127.0.0.1:8090 &
//	go run ./bench -url http://127.0.0.1:8090 -rate 150 -calls 1500
//
// Whatever the bridge costs above this server's figure is the bridge's own doing; what this
// server costs is the price of net/http, gorilla/websocket, the Go runtime and the kernel
// on the machine at hand.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const twiml = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<Response><Dial timeLimit="14400"><Conference statusCallback="http://127.0.0.1/twilio/conference" statusCallbackEvent="start end join leave mute hold" startConferenceOnEnter="true" endConferenceOnExit="false" beep="false">5a1339868509b80641a56655</Conference></Dial></Response>`

// event is a presence event of the bridge's size (512 bytes of JSON for a 34-character call
// SID, as the bridge's for a masked caller) with the call SID and category filled in.
func event(sid, category string, online bool) []byte {
	conn := "false"
	if online {
		conn = "true"
	}
	return []byte(`42/chat,["PRESENCE_EVENT_RESPONSE",{"_id":"09fb0ad1-38d0-4e02-a28f-513ae908cb5d","category":"` + category +
		`","topicId":"5a1339868509b80641a56655","sender":{"_id":"` + sid + `","type":"phone","username":"","displayname":"+1 ••• 0123","picture_url":""},` +
		`"content":{"offline":false,"role":"guest","mediaSession":{"video":false,"audio":true,"connected":` + conn +
		`,"screenshare":false,"selfMuted":false,"phone":` + conn + `},"idle":false,"desktop":false,"emitedby":"wcs","sessionId":"` + sid + `"}}]`)
}

type subscriber struct {
	mu sync.Mutex
	ws *websocket.Conn
}

// writeWait bounds a write to a subscriber, as the bridge bounds its own.
const writeWait = 10 * time.Second

func (s *subscriber) write(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return s.ws.WriteMessage(websocket.TextMessage, msg)
}

type server struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func (sv *server) broadcast(msg []byte) {
	sv.mu.Lock()
	subs := make([]*subscriber, 0, len(sv.subs))
	for s := range sv.subs {
		subs = append(subs, s)
	}
	sv.mu.Unlock()
	for _, s := range subs {
		if s.write(msg) != nil {
			s.ws.Close() // its read loop ends and drops it
		}
	}
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket speaks Engine.IO 3 over WebSocket: the open packet, pong to ping, and the /chat
// namespace's connect and SUBSCRIBE_CHANNEL.
func (sv *server) socket(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(64 << 10) // the subscribers send only pings and a subscribe
	s := &subscriber{ws: ws}
	defer func() {
		sv.mu.Lock()
		delete(sv.subs, s)
		sv.mu.Unlock()
		ws.Close()
	}()
	s.write([]byte(`0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":60000}`))
	s.write([]byte("40"))
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		m := string(msg)
		switch {
		case m == "2":
			s.write([]byte("3"))
		case strings.HasPrefix(m, "40/chat"):
			s.write([]byte("40/chat,"))
		case strings.HasPrefix(m, `42/chat,["SUBSCRIBE_CHANNEL"`):
			sv.mu.Lock()
			sv.subs[s] = struct{}{}
			sv.mu.Unlock()
			s.write([]byte(`42/chat,["CHANNEL_SUBSCRIBED",{"channel":{"_id":"5a1339868509b80641a56655","type":"topic"}}]`))
		}
	}
}

func (sv *server) conference(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.PostForm.Get("StatusCallbackEvent") {
	case "participant-join":
		sv.broadcast(event(r.PostForm.Get("CallSid"), "app.event.presence.party.online", true))
	case "participant-leave":
		sv.broadcast(event(r.PostForm.Get("CallSid"), "app.event.presence.party.leaves", false))
	}
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address (port 0: any free port)")
	flag.Parse()
	sv := &server{subs: map[*subscriber]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /twilio/voice", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, twiml)
	})
	mux.HandleFunc("POST /twilio/conference", sv.conference)
	mux.HandleFunc("POST /twilio/status", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/socket.io/", sv.socket)
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("floor listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Fatal(srv.Serve(ln))
}
