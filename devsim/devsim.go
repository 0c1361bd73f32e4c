// Package devsim is development mode's call simulator, as the console offers it (contract
// §9): "Simulate a call" makes the bridge play a dial-in's webhooks to itself, and "Hang up"
// ends a simulated call. It runs a twiliosim.Sim in-process: the Sim posts the webhooks and
// callbacks to the bridge's own address, and serves Twilio's REST API on a loopback port of
// its own, where the bridge's REST client points when it has no Twilio credentials, so that
// mute, hold, remove, dial-out and the lobby answer and call back as Twilio would.
//
// cmd/dialin-bridge builds it only in development mode; outside it nothing of this package
// runs, and its endpoints are not mounted.
package devsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/twiliosim"
)

// Paths of the simulator's endpoints, mounted by cmd/dialin-bridge in development mode only.
const (
	PathInfo     = "GET /api/dev"
	PathSimulate = "POST /api/dev/topics/{topicId}/calls"
	PathHangup   = "POST /api/dev/calls/{callSid}/hangup"
)

// AccountSID is the simulated account; the auth token is random per process.
const AccountSID = "AC00000000000000000000000000000dev"

// DialOutFrom is the number simulated dial-outs call from when none is configured (Twilio's
// magic test number: nothing real is ever called).
const DialOutFrom = "+15005550006"

// Dial-outs ring this long before the simulated callee answers, so that the room sees them
// ringing, then joining.
const ringFor = 2 * time.Second

// lobbyMusic is how long a waiting caller's hold music plays before its <Redirect> is
// followed (the lobby's TwiML is fetched again).
const lobbyMusic = 30 * time.Second

// maxBody caps a request body of the simulator's endpoints.
const maxBody = 16 << 10

// requestTimeout bounds a simulated dial-in's voice webhook (the bridge answering itself).
const requestTimeout = 10 * time.Second

// Options configure a Sim.
type Options struct {
	// Rooms is the current rooms file: a simulated call dials its topic's first number, or
	// its SIP address when it has none.
	Rooms func() *rooms.Rooms
	// Log receives one line per simulated call and hang-up (numbers masked).
	Log *slog.Logger
}

// Sim is the simulator: a twiliosim.Sim and the loopback server of its REST API.
type Sim struct {
	opts   Options
	sim    *twiliosim.Sim
	token  string
	srv    *http.Server
	ln     net.Listener
	served chan struct{}
}

// Start starts the simulator. Its callbacks go nowhere until SetBridgeURL names the bridge.
func Start(opts Options) (*Sim, error) {
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simulated Twilio API: %w", err)
	}
	s := &Sim{opts: opts, token: hex.EncodeToString(tok), ln: ln, served: make(chan struct{})}
	s.sim = twiliosim.New(twiliosim.Options{
		AccountSID:     AccountSID,
		AuthToken:      s.token,
		DefaultOutcome: twiliosim.Outcome{Result: "answer", After: ringFor},
		RedirectAfter:  lobbyMusic,
	})
	s.srv = &http.Server{Handler: s.sim, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// APIURL is the base URL of the simulated REST API (DIALIN_TWILIO_API_URL's place).
func (s *Sim) APIURL() string { return "http://" + s.ln.Addr().String() }

// AuthToken is the simulated account's token: REST requests authenticate with it, and the
// callbacks are signed with it.
func (s *Sim) AuthToken() string { return s.token }

// SetBridgeURL names the bridge's base URL, where incoming calls and call status callbacks
// go.
func (s *Sim) SetBridgeURL(u string) { s.sim.SetBridgeURL(u) }

// Close stops the REST server and the Sim, and waits for their goroutines.
func (s *Sim) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.served
	s.sim.Close()
}

// Mount adds the simulator's endpoints to mux. twilio says whose REST API the bridge uses
// ("simulated" or "real"), for the console to tell.
func (s *Sim) Mount(mux *http.ServeMux, twilio string) {
	mux.HandleFunc(PathInfo, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"simulator": true, "twilio": twilio})
	})
	mux.HandleFunc(PathSimulate, s.simulate)
	mux.HandleFunc(PathHangup, s.hangup)
}

// simulate places a simulated dial-in to the topic: body {} or {"from": "+E164"}; answer
// 201 {"callSid"} once the bridge has answered its voice webhook (the join follows).
func (s *Sim) simulate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From string `json:"from"`
	}
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t, ok := s.opts.Rooms().Topic(r.PathValue("topicId"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such topic in the rooms file")
		return
	}
	from := req.From
	if from == "" {
		from = s.fictionalCaller()
	} else if !mapper.IsE164(from) {
		writeError(w, http.StatusBadRequest, "from must be an E.164 number")
		return
	}
	to := "sip:" + t.ID + "@dev.sip.twilio.com"
	if len(t.Numbers) > 0 {
		to = t.Numbers[0]
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	sid, err := s.sim.DialIn(ctx, from, to)
	if err != nil {
		s.opts.Log.Warn("simulated call failed", "topic", t.ID, "from", mapper.Mask(from), "call_sid", sid, "err", err)
		writeError(w, http.StatusBadGateway, "the simulated call failed: "+oneLine(err.Error()))
		return
	}
	s.opts.Log.Info("simulated call", "topic", t.ID, "from", mapper.Mask(from), "call_sid", sid)
	writeJSON(w, http.StatusCreated, map[string]string{"callSid": sid})
}

// hangup is the simulated caller hanging up: answer 202 {"callSid"}, or 404 for a call the
// simulator does not have in progress.
func (s *Sim) hangup(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("callSid")
	if err := readJSON(w, r, &struct{}{}); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.sim.Hangup(sid); err != nil {
		if errors.Is(err, twiliosim.ErrNoCall) {
			writeError(w, http.StatusNotFound, "no simulated call in progress with that SID")
			return
		}
		writeError(w, http.StatusInternalServerError, oneLine(err.Error()))
		return
	}
	s.opts.Log.Info("simulated hang-up", "call_sid", sid)
	writeJSON(w, http.StatusAccepted, map[string]string{"callSid": sid})
}

// readJSON decodes a body of at most maxBody bytes into v; an empty body is {}.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return fmt.Errorf("body too large or unreadable")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed body: %s", oneLine(err.Error()))
	}
	if dec.More() {
		return fmt.Errorf("malformed body: more than one JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// fictionalCaller is a random number of the range US films use (+1 415 555 0100–0199: no
// one's phone) that is not in the rooms file's directory, so that a simulated caller shows as
// an unknown caller does.
func (s *Sim) fictionalCaller() string {
	rs := s.opts.Rooms()
	var number string
	for range 20 {
		n, err := rand.Int(rand.Reader, big.NewInt(100))
		if err != nil {
			break
		}
		number = fmt.Sprintf("+141555501%02d", n.Int64())
		if _, known := rs.Caller(number); !known {
			break
		}
	}
	return number
}
