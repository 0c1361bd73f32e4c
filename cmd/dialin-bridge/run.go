package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/logbuf"
	"github.com/dialin-bridge/dialin-bridge/metrics"
	"github.com/dialin-bridge/dialin-bridge/moderation"
	"github.com/dialin-bridge/dialin-bridge/presence"
	"github.com/dialin-bridge/dialin-bridge/publisher"
	"github.com/dialin-bridge/dialin-bridge/publisher/sio"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
	"github.com/dialin-bridge/dialin-bridge/twilioapi"
	"github.com/dialin-bridge/dialin-bridge/webhook"
)

// shutdownTimeout caps how long SIGTERM waits for webhooks in flight.
const shutdownTimeout = 8 * time.Second

//go:embed example-rooms.json
var exampleRooms []byte

// run starts the bridge and returns the process's exit code once it stops.
func run(stderr io.Writer) int {
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(stderr, "dialin-bridge:", err)
		return 2
	}
	// Log lines are gathered and written every 100 ms, and at exit: a line costs no write
	// system call of its own. Warnings and errors are written at once.
	out := logbuf.New(stderr, logbuf.DefaultInterval)
	defer out.Close()
	log := newLogger(cfg, out)
	// Libraries that use the standard log package (go-socket.io) log through it too.
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, defaultLimits, log); err != nil {
		log.Error("dialin-bridge stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w *logbuf.Writer) *slog.Logger {
	if cfg.Dev {
		return slog.New(logbuf.NewHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}), w))
	}
	return slog.New(logbuf.NewHandler(slog.NewJSONHandler(w, nil), w))
}

// loadRooms reads the rooms file, or in dev mode without one the built-in example.
func loadRooms(cfg Config) (*rooms.Rooms, error) {
	switch {
	case cfg.RoomsFile != "":
		return rooms.Load(cfg.RoomsFile)
	case cfg.Dev:
		return rooms.Parse(exampleRooms)
	}
	return rooms.Empty(), nil
}

func openStore(cfg Config, log *slog.Logger) (roster.Store, error) {
	switch cfg.Store {
	case "memory":
		return roster.NewMemory(), nil
	case "bolt":
		b, err := roster.OpenBoltWith(cfg.DataDir, roster.BoltOptions{Check: checkInChild})
		if err != nil {
			return nil, err
		}
		if path, why := b.SetAside(); path != "" {
			log.Error("the roster file was damaged (the machine stopped without syncing it); it was set aside and the roster starts empty: reconciliation brings back the calls Twilio lists",
				"set_aside", path, "err", why)
		}
		return b, nil
	case "redis":
		return roster.OpenRedis(string(cfg.RedisURL), roster.DefaultRedisPrefix, cfg.RedisMinReplicas)
	}
	return nil, fmt.Errorf("store %q is not available", cfg.Store)
}

// serve runs the bridge until ctx is done. limits are the HTTP time limits (tests shorten
// them).
func serve(ctx context.Context, cfg Config, limits httpLimits, log *slog.Logger) error {
	if cfg.Dev {
		log.Warn("DEVELOPMENT MODE: webhook signatures are not checked and socket clients need no token; do not expose this bridge")
	}
	if cfg.AuthToken == "" && !cfg.Dev {
		return errors.New("no Twilio auth token")
	}

	rs, err := loadRooms(cfg)
	if err != nil {
		return fmt.Errorf("rooms file: %w", err)
	}
	var current atomic.Pointer[rooms.Rooms]
	current.Store(rs)
	topics, callers := rs.Len()
	log.Info("rooms loaded", "topics", topics, "callers", callers, "file", cfg.RoomsFile)

	store, err := openStore(cfg, log)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	// Every goroutine started below is one of bg's, stopped by stopBg and waited for before
	// the store closes (deferred functions run in reverse order).
	var bg sync.WaitGroup
	bgctx, stopBg := context.WithCancel(ctx)
	defer func() {
		stopBg()
		bg.Wait()
	}()
	spawn := func(f func(ctx context.Context)) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			f(bgctx)
		}()
	}

	pem, err := publisher.LoadPublicKey(cfg.JWTPublicKeyFile)
	if err != nil {
		return err
	}
	var secret []byte
	if cfg.JWTSecret != "" {
		secret = []byte(cfg.JWTSecret)
	}
	auth, err := publisher.NewAuth(secret, pem, cfg.Dev)
	if err != nil {
		return fmt.Errorf("%s: %w", env("JWT_PUBLIC_KEY_FILE"), err)
	}
	// Development mode's call simulator (console: "Simulate a call"); without Twilio
	// credentials it is Twilio's REST API as well.
	sim, simREST, err := startSimulator(cfg, current.Load, log)
	if err != nil {
		return err
	}
	if sim != nil {
		defer sim.Close()
	}
	if simREST != nil {
		cfg.Moderation = devDialOut(cfg.Moderation, log)
	}
	var twilio *twilioapi.Client
	if simREST != nil {
		twilio = simREST
	} else if cfg.AccountSID != "" && cfg.AuthToken != "" {
		if twilio, err = twilioapi.New(cfg.TwilioAPIURL, cfg.AccountSID, string(cfg.AuthToken)); err != nil {
			return err
		}
	} else {
		log.Warn("no Twilio credentials: reconciliation and hang-up are off")
	}

	met := metrics.New()
	var rest presence.Twilio
	if twilio != nil {
		twilio.Observe(met.REST)
		rest = twilio
	}

	var fanout publisher.Fanout
	if rs, ok := store.(*roster.Redis); ok {
		// Several instances: every event goes through Redis to every instance's clients.
		fanout = publisher.NewRedisFanout(rs.Client(), roster.DefaultRedisPrefix+"events")
	}
	// The core publishes through the room side, and the room side asks the core for parties
	// and removals: the room side is built first and given the core when it starts serving.
	heard := newCallers(store, log)
	pub := publisher.New(publisher.Options{
		Auth:       auth,
		Observer:   met,
		Fanout:     fanout,
		WebParties: heard.web,
		Socket: sio.Options{AllowedOrigins: cfg.AllowedOrigins,
			PingInterval: cfg.PingInterval, PingTimeout: cfg.PingInterval * 3 / 2},
	}, log)
	plat, err := newPlatform(cfg.Platform, heard.web, met, log)
	if err != nil {
		return err
	}
	defer plat.close()
	var hooks *webhook.Handler
	core := presence.New(presence.Options{
		Roster:            roster.New(store),
		Rooms:             current.Load,
		DefaultPictureURL: cfg.DefaultPictureURL,
		Sinks:             plat.sinks(pub),
		Twilio:            rest,
		Identify: func(from, callerName string) roster.Identity {
			return webhook.CallerIdentity(current.Load(), from, callerName, cfg.CallerID, cfg.DefaultPictureURL)
		},
		Local:    pub,
		Shared:   fanout != nil,
		Memory:   cfg.MaxCallDuration + roster.TombstoneTTL,
		Ready:    pub.Ready,
		Speaking: cfg.Moderation.Speaking,
		DialOut:  dialOutOptions(cfg),
		Observer: met,
		Log:      log,
		Lobby:    lobbyOptions(cfg.Lobby, twilio, &hooks, pub),
	})
	pub.Serve(core)
	defer pub.Close()
	defer core.Close()

	hooks = webhook.New(webhook.Options{
		PublicURL:         cfg.PublicURL,
		AuthToken:         string(cfg.AuthToken),
		Dev:               cfg.Dev,
		CallerID:          cfg.CallerID,
		DefaultPictureURL: cfg.DefaultPictureURL,
		SayVoice:          cfg.SayVoice,
		SayLanguage:       cfg.SayLanguage,
		MaxCallDuration:   cfg.MaxCallDuration,
		Room:              room{web: heard.web, core: core},
		Lobby:             core,
		LobbyMusicURL:     cfg.Lobby.MusicURL,
		LobbyTimeout:      cfg.Lobby.Timeout,
		PINs:              heard.pins,
		Lockouts:          met.Callers(),
		Speaking:          cfg.Moderation.Speaking,
	}, core, current.Load, met, log)
	plat.start(core)

	spawn(func(ctx context.Context) { core.Run(ctx, cfg.ReconcileInterval) })
	spawn(func(ctx context.Context) { core.RunLobby(ctx, cfg.ReconcileInterval) })
	spawn(heard.web.Run)
	spawn(func(ctx context.Context) { reloadOnHUP(ctx, cfg, log, &current) })

	mux := http.NewServeMux()
	var webhooks inFlight
	mux.Handle("/twilio/", webhooks.track(limits.webhookBody(hooks, webhook.MaxBody, met)))
	mux.Handle("/socket.io/", pub.Handler())
	api := http.NewServeMux()
	api.Handle(publisher.PathParties, pub.PartiesHandler())
	mod := moderation.New(moderation.Options{
		Auth: pub,
		Core: core,
		Relay: func(topicID string, payload any) {
			pub.Relay(topicID, payload)
			plat.relay(topicID, payload)
		},
		Observer: met,
		Log:      log.With("component", "moderation"),
		DialOut:  cfg.Moderation.DialOutFrom != "",
	})
	mod.Register(api)
	mod.RegisterLobby(api, core)
	mountConsole(mux, api, pub, sim, simREST == nil, current.Load)
	mux.Handle("/api/", moderation.CORS(cfg.AllowedOrigins, api))
	mux.Handle("GET /metrics", met.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	ready := &readiness{store: store, pub: pub, plat: plat, core: core, met: met}
	mux.Handle("GET /readyz", ready)
	spawn(ready.run)

	if cfg.DebugAddr != "" {
		spawn(func(ctx context.Context) { serveDebug(ctx, cfg.DebugAddr, log) })
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if sim != nil {
		sim.SetBridgeURL(loopbackURL(ln.Addr()))
	}
	srv := newHTTPServer(mux, limits, log)
	log.Info("dialin-bridge listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL,
		"store", cfg.Store, "caller_id", string(cfg.CallerID))
	served := make(chan error, 1)
	spawn(func(context.Context) { served <- srv.Serve(limits.listener(ln, met)) })

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing webhooks in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Stop taking connections. Shutdown returns once every connection is idle: long-polling
	// room clients hold it open until pub.Close below ends them.
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	// The webhooks in flight finish first, while room clients are connected and the fan-out
	// runs: the event of each webhook answered reaches this instance's clients and the
	// fan-out's queue. Then the room side closes, and its fan-out sends what it holds.
	webhooks.wait(sctx)
	core.Close() // speaking changes still waiting for their turn go out now, while the sinks run
	pub.Close()
	if err := <-shut; err != nil {
		log.Warn("shutdown cut short", "err", err)
		srv.Close()
	}
	return nil
}

// inFlight counts the requests a handler is serving, so that shutdown can wait for them.
type inFlight struct{ n atomic.Int64 }

func (f *inFlight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n.Add(1)
		defer f.n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// wait returns once no request is being served, or when ctx is done. Called once the server
// takes no more connections.
func (f *inFlight) wait(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for f.n.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reloadOnHUP reloads the rooms file on SIGHUP. A bad file is logged and the old one kept.
func reloadOnHUP(ctx context.Context, cfg Config, log *slog.Logger, current *atomic.Pointer[rooms.Rooms]) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		rs, err := loadRooms(cfg)
		if err != nil {
			log.Error("rooms file reload failed; keeping the previous one", "err", err)
			continue
		}
		current.Store(rs)
		topics, callers := rs.Len()
		log.Info("rooms file reloaded", "topics", topics, "callers", callers)
	}
}

// serveDebug serves pprof on its own address, opted into with DIALIN_DEBUG_ADDR.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	defer context.AfterFunc(ctx, func() { srv.Close() })()
	log.Warn("pprof debug server listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("debug server", "err", err)
	}
}
