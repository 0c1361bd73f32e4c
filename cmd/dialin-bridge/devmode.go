package main

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/dialin-bridge/dialin-bridge/console"
	"github.com/dialin-bridge/dialin-bridge/devsim"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
)

// startSimulator starts development mode's call simulator (package devsim). Without Twilio
// credentials the bridge's REST client is pointed at the simulated API, which calls back as
// Twilio would; with them, Twilio is real and only "Simulate a call" is simulated. Outside
// development mode it returns nil and nothing of it exists.
func startSimulator(cfg Config, rs func() *rooms.Rooms, log *slog.Logger) (*devsim.Sim, *twilioapi.Client, error) {
	if !cfg.Dev {
		return nil, nil, nil
	}
	sim, err := devsim.Start(devsim.Options{Rooms: rs, Log: log})
	if err != nil {
		return nil, nil, err
	}
	if cfg.AccountSID != "" && cfg.AuthToken != "" {
		return sim, nil, nil
	}
	rest, err := twilioapi.New(sim.APIURL(), devsim.AccountSID, sim.AuthToken())
	if err != nil {
		sim.Close()
		return nil, nil, err
	}
	log.Warn("DEVELOPMENT MODE: no Twilio credentials, so Twilio's REST API is simulated in-process (package devsim); open /console to try every control")
	return sim, rest, nil
}

// devDialOut lets the simulated Twilio take dial-outs to any number when none are
// configured: nothing real is called, and the console's "Call" works with no setting.
func devDialOut(m ModerationConfig, log *slog.Logger) ModerationConfig {
	if m.DialOutFrom == "" {
		m.DialOutFrom = devsim.DialOutFrom
		if len(m.DialOutPrefixes) == 0 {
			m.DialOutPrefixes = []string{"+"}
		}
		log.Info("development mode: simulated dial-outs from " + devsim.DialOutFrom + " to any number")
	}
	return m
}

// mountConsole serves the operator console on mux, GET /api/topics on api (the admin API's
// mux) and, in development mode, the simulator's endpoints on mux.
func mountConsole(mux, api *http.ServeMux, pub *publisher.Server, sim *devsim.Sim, realTwilio bool, rs func() *rooms.Rooms) {
	h := console.Handler()
	mux.Handle("GET "+console.Path, h)
	mux.Handle("GET "+console.Path+"/", h)
	api.Handle(publisher.PathTopics, pub.TopicsHandler(func() []publisher.Topic {
		var out []publisher.Topic
		for _, t := range rs().Topics() {
			out = append(out, publisher.Topic{ID: t.ID, Name: t.Name})
		}
		return out
	}))
	if sim != nil {
		twilio := "simulated"
		if realTwilio {
			twilio = "real"
		}
		sim.Mount(mux, twilio)
	}
}

// loopbackURL is the base URL the bridge reaches itself at, listening on addr.
func loopbackURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		_, port, _ := net.SplitHostPort(addr.String())
		return "http://127.0.0.1:" + port
	}
	return "http://" + tcp.String()
}
