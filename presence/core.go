// Package presence is the presence core: it owns the flow from a change of a phone call to
// the events every sink shows. It applies each change a webhook or reconciliation brings to
// the roster, maps what the roster says changed to presence events (mapper), and hands them
// to its sinks (the bridge's own room clients with their cross-instance fan-out, and the room
// platform's cluster), in order per call. It also answers the room side's requests that need
// the roster or Twilio: the parties of a topic, and the removal of one. It keeps the
// bridge's one memory of calls (see memory): what this instance showed its clients of each
// call, which orders every event a client is shown, whatever its source, and from which
// reconciliation retracts and catches up.
//
// Sinks and the other parts it drives are interfaces declared here; cmd/dialin-bridge wires
// the implementations.
package presence

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
	"unique"

	"github.com/google/uuid"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// Sink shows presence events somewhere: to the bridge's own room clients, to other
// instances, to the room platform. Publish is called with the events of one call in the
// order of their versions, and must not block: a sink that does slow work (network) queues
// it for a goroutine of its own.
type Sink interface {
	Publish(ev mapper.Event)
}

// Observer is told of the events the core publishes and of reconciliations, for metrics.
type Observer interface {
	Emitted(category string)
	Reconciled(ended int, err error)
	// CaughtUp counts events this instance's clients had missed (the fan-out lost them) and
	// were shown from the store.
	CaughtUp(n int)
	// Online is the number of phone parties online, each time it changes (see Core.Online).
	Online(n int)
	// Corrected counts what reconciliation corrected (roster.Ghost or roster.Missed) and
	// how long it had been wrong (negative: unknown).
	Corrected(kind string, age time.Duration)
}

type nopObserver struct{}

func (nopObserver) Emitted(string)                  {}
func (nopObserver) Reconciled(int, error)           {}
func (nopObserver) CaughtUp(int)                    {}
func (nopObserver) Online(int)                      {}
func (nopObserver) Corrected(string, time.Duration) {}

// ErrUnknownParty marks a removal of a call that is not a phone party of the topic.
var ErrUnknownParty = mapper.ErrUnknownParty

// ErrNoTwilio marks a request that needs Twilio's REST API when the bridge has no credentials.
var ErrNoTwilio = errors.New("no Twilio credentials")

// Options configure a Core.
type Options struct {
	Roster *roster.Roster
	// Rooms returns the rooms file in force (it may be reloaded).
	Rooms func() *rooms.Rooms
	// DefaultPictureURL is the picture of callers outside the directory.
	DefaultPictureURL string
	Sinks             []Sink
	// Twilio hangs calls up, lists the live ones and says who placed a call; nil without
	// credentials.
	Twilio Twilio
	// Identify is how a caller is shown, from the call's From and CallerName (as the
	// incoming-call webhook shows it). Nil: calls the roster never saw are shown as
	// mapper.HiddenName.
	Identify func(from, callerName string) roster.Identity
	// Local shows events to this instance's own room clients alone: the retractions and the
	// catch-up each instance does for its own clients (see ReconcileOnce); nil for none.
	Local Local
	// Shared: several instances share the store, and events reach the others' clients
	// through a fan-out that may lose some (a full queue, a failed PUBLISH, a subscription
	// being made again). The core then catches its clients up from the store at each
	// reconciliation and whenever the fan-out subscribes again (see Resubscribed).
	Shared bool
	// Memory is how long the core remembers a call after the last event it showed of it
	// (DefaultMemory when zero): longer than a call may last.
	Memory time.Duration
	// Ready reports whether events reach every instance (the fan-out's subscription is
	// live); reconciliation waits for it. Nil: always.
	Ready func(ctx context.Context) error
	// Speaking shows who is speaking (DIALIN_SPEAKING): every phone party's events carry
	// mediaSession.speaking, and speech changes are limited per party (see speech).
	Speaking bool
	// DialOut configures dial-out; its From empty turns it off.
	DialOut  DialOutOptions
	Observer Observer
	Log      *slog.Logger
	// Lobby configures the lobbies of topics that have one.
	Lobby LobbyOptions
}

// Core is the presence core.
type Core struct {
	opts     Options
	roster   *roster.Roster
	obs      Observer
	log      *slog.Logger
	mem      *memory
	catchup  chan struct{} // a catch-up from the store is due (see Resubscribed)
	lobby    lobby         // when each waiting call's time is up
	online   atomic.Int64  // phone parties online (see Online)
	ready    atomic.Bool   // the first reconciliation ran
	speech   speech        // the limit on speaking changes
	dials    dials         // dial-outs being placed, by topic
	removals removals      // hang-ups waiting on Twilio, by topic and call
}

// New returns a core.
func New(opts Options) *Core {
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Rooms == nil {
		opts.Rooms = rooms.Empty
	}
	c := &Core{opts: opts, roster: opts.Roster, obs: opts.Observer, log: opts.Log,
		mem: newMemory(memorySize, opts.Memory), catchup: make(chan struct{}, 1)}
	c.speech.init()
	return c
}

// Close publishes the speaking changes waiting for their turn, and waits for any on its way.
// It is called before the sinks close, so that those changes reach them.
func (c *Core) Close() { c.speech.close(c.publishNow) }

// Admit records an incoming call routed to topicID (empty while the caller is asked for a
// PIN). It owes no event.
func (c *Core) Admit(ctx context.Context, sid, topicID string, id roster.Identity) error {
	_, err := c.roster.Admit(ctx, sid, topicID, id)
	return err
}

// Participant applies a participant-* conference callback and publishes what it owes. It
// reports whether it owed an event.
func (c *Core) Participant(ctx context.Context, sid string, p roster.Participant) (bool, error) {
	ch, err := c.roster.Participant(ctx, sid, p, c.name)
	if err != nil {
		c.publishMade(err)
		return false, err
	}
	if ch.Speech && !c.speech.admit(ch, c.publishNow) {
		return true, nil // published when its turn comes, unless a newer change overtakes it
	}
	c.publish(ch)
	return ch.Emit != roster.EmitNone, nil
}

// Ringing applies a dial-out's initiated or ringing call status and publishes what it owes.
func (c *Core) Ringing(ctx context.Context, sid string, seq int64) (bool, error) {
	ch, err := c.roster.Ringing(ctx, sid, seq)
	if err != nil {
		c.publishMade(err)
		return false, err
	}
	c.publish(ch)
	return ch.Emit != roster.EmitNone, nil
}

// CallEnded applies a final call status and publishes what it owes. It reports whether it
// owed an event.
func (c *Core) CallEnded(ctx context.Context, sid string, seq int64, status string) (bool, error) {
	ch, err := c.roster.CallEnded(ctx, sid, seq, status)
	if err != nil {
		c.publishMade(err)
		return false, err
	}
	c.lobbyLeft(ch)
	c.publish(ch)
	return ch.Emit != roster.EmitNone, nil
}

// ConferenceEnd applies conference-end and publishes the leaves it owes. It returns how
// many parties left. Those that left before an error are published too.
func (c *Core) ConferenceEnd(ctx context.Context, topicID, conferenceSID string, seq int64) (int, error) {
	chs, err := c.roster.ConferenceEnd(ctx, topicID, conferenceSID, seq)
	c.publish(chs...)
	c.publishMade(err)
	return len(chs), err
}

// publishMade publishes what a change owes that the store made although it reports an
// error: one too few Redis replicas acknowledged (roster.Unreplicated). Its webhook is
// answered 503 all the same, and Twilio's retry, which changes nothing, owes nothing: without
// this, the event would reach no client until a catch-up, and the platform's never.
func (c *Core) publishMade(err error) {
	if u, ok := errors.AsType[*roster.Unreplicated](err); ok {
		c.publish(u.Change)
	}
}

// name names a participant the roster never saw: it reached the conference some other way,
// or its incoming call was lost (the machine crashed before the store was synced, or the
// store could not be written). It is shown only in a conference of a known topic (nil
// otherwise), as Twilio's Calls resource says who placed the call; as mapper.HiddenName
// when Twilio cannot say.
func (c *Core) name(ctx context.Context, sid, topicID string) *roster.Identity {
	if _, known := c.opts.Rooms().Topic(topicID); !known {
		return nil
	}
	if c.opts.Twilio != nil && c.opts.Identify != nil {
		from, callerName, err := c.opts.Twilio.Caller(ctx, sid) // bounded by the client (twilioapi.CallerTimeout)
		if err == nil && from != "" {
			id := c.opts.Identify(from, callerName)
			return &id
		}
		c.log.Warn("a party the roster never saw is shown without its caller: Twilio did not say who placed the call",
			"call", sid, "err", err)
	}
	return &roster.Identity{DisplayName: mapper.HiddenName, PictureURL: c.opts.DefaultPictureURL}
}

// publish hands the events that changes owe to every sink, and counts them.
//
// Order per call: the roster holds no lock, so two changes of one call, stored one after
// the other by two webhooks, may reach here in either order. Each change carries its call's
// version (it grows with every stored change), so publish shows it through the core's
// memory (see memory.show), which holds a lock of the call's own while the sinks' Publish
// runs (no store I/O under it; Publish must not block), and drops a change whose version is
// not above the last one shown of the call: it was overtaken by a later one, which shows
// the call's newer state (a leaves is a call's last change, so nothing ever follows it).
// Sinks thus see each call's events in the order they were stored, and a slow sink delays
// nobody, as it queues its slow work. The log line and the metrics come after the lock is
// let go.
func (c *Core) publish(changes ...roster.Change) {
	for _, ch := range changes {
		c.follow(ch)
		if ch.Emit == roster.EmitLeaves {
			c.speech.forget(ch.Call.CallSID)
		}
		c.publishNow(ch)
	}
}

// publishNow hands the event one change owes to every sink, in its call's order.
func (c *Core) publishNow(ch roster.Change) {
	if ch.Emit == roster.EmitNone {
		return
	}
	ev := c.eventOf(ch)
	if !c.mem.publish(ch.Call.CallSID, ch.Call.Version, c.shownParty(ch), func() {
		for _, s := range c.opts.Sinks {
			s.Publish(ev)
		}
	}) {
		c.log.Debug("change overtaken by a newer one of the call; not published", "call_sid", ch.Call.CallSID, "version", ch.Call.Version)
		return
	}
	if ev.Content.Reason != "" {
		c.log.Info("presence", "category", ev.Category, "call_sid", ch.Call.CallSID, "topic", ch.Call.TopicID, "reason", ev.Content.Reason)
	} else {
		c.log.Info("presence", "category", ev.Category, "call_sid", ch.Call.CallSID, "topic", ch.Call.TopicID)
	}
	c.obs.Emitted(ev.Category)
}

// shownParty is the party a change shows online, nil for a leaves.
func (c *Core) shownParty(ch roster.Change) *mapper.Party {
	if ch.Emit != roster.EmitOnline {
		return nil
	}
	p := party(ch.Call, c.opts.Speaking)
	// Kept while the call is shown: the strings every party of a topic shares are kept once
	// (the topic's may be a slice of the webhook's whole body).
	p.TopicID = unique.Make(p.TopicID).Value()
	p.PictureURL = unique.Make(p.PictureURL).Value()
	p.Role = unique.Make(p.Role).Value()
	return &p
}

// eventOf is the presence event a roster change owes.
func (c *Core) eventOf(ch roster.Change) mapper.Event {
	p := party(ch.Call, c.opts.Speaking)
	if ch.Emit == roster.EmitLeaves {
		return mapper.Leaves(p, uuid.NewString())
	}
	return mapper.Online(p, uuid.NewString())
}

// party is the mapper's view of a roster call; speaking says whether speech is shown.
func party(c roster.Call, speaking bool) mapper.Party {
	p := mapper.Party{
		CallSID:     c.CallSID,
		TopicID:     c.TopicID,
		Username:    c.Username,
		DisplayName: c.DisplayName,
		PictureURL:  c.PictureURL,
		Role:        c.Role,
		Muted:       c.Muted,
		OnHold:      c.OnHold,
		Ringing:     c.State == roster.Dialing,
		Reason:      c.Reason,
		Version:     c.Version,
	}
	if speaking {
		talking := c.Speaking
		p.Speaking = &talking
	}
	return p
}
