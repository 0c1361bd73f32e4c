package main

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/dialin-bridge/dialin-bridge/rooms"
)

// TestSimulatorOnlyInDevMode: outside development mode no simulator starts; in it, the
// simulated Twilio API is the bridge's only without credentials, and dial-outs then go
// anywhere unless configured.
func TestSimulatorOnlyInDevMode(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rs := func() *rooms.Rooms { return rooms.Empty() }
	sim, rest, err := startSimulator(Config{Dev: false}, rs, log)
	if sim != nil || rest != nil || err != nil {
		t.Fatalf("production mode: simulator %v, REST %v, %v; want none", sim, rest, err)
	}
	sim, rest, err = startSimulator(Config{Dev: true}, rs, log)
	if err != nil || sim == nil || rest == nil {
		t.Fatalf("dev mode without credentials: simulator %v, REST %v, %v; want both", sim, rest, err)
	}
	sim.Close()
	sim, rest, err = startSimulator(Config{Dev: true, AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "token"}, rs, log)
	if err != nil || sim == nil || rest != nil {
		t.Fatalf("dev mode with credentials: simulator %v, REST %v, %v; want the simulator, real Twilio", sim, rest, err)
	}
	sim.Close()

	m := devDialOut(ModerationConfig{}, log)
	if m.DialOutFrom == "" || len(m.DialOutPrefixes) != 1 || m.DialOutPrefixes[0] != "+" {
		t.Errorf("dev dial-out defaults %+v; want a From and every prefix", m)
	}
	set := ModerationConfig{DialOutFrom: "+15005550009", DialOutPrefixes: []string{"+44"}}
	if m := devDialOut(set, log); m.DialOutFrom != "+15005550009" || m.DialOutPrefixes[0] != "+44" {
		t.Errorf("configured dial-out changed to %+v", m)
	}
}

func TestLoopbackURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		"[::]:9000":      "http://127.0.0.1:9000",
		"[::1]:9000":     "http://[::1]:9000",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopbackURL(tcp); got != want {
			t.Errorf("loopbackURL(%s) = %s; want %s", addr, got, want)
		}
	}
}
