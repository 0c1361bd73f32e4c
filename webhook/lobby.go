package webhook

import (
	"context"
	"net/url"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"github.com/dialin-bridge/dialin-bridge/rooms"
	"github.com/dialin-bridge/dialin-bridge/roster"
)

// PathLobby is where a waiting caller's <Redirect> comes back to, while it waits.
const PathLobby = "/twilio/voice/lobby"

// Lobby holds routed callers of a topic with a lobby until an admin admits them.
type Lobby interface {
	// Wait puts call sid in topicID's lobby, or keeps it there, and returns the call as it
	// now stands: Waiting, or Routing/Online once admitted, or Ended once denied, timed out
	// or gone.
	Wait(ctx context.Context, sid, topicID string, id roster.Identity) (roster.Call, error)
	// TimeOut ends the wait of call sid, waiting since since, and says so in the lobby; it
	// returns whether it did (false when the call was admitted or denied meanwhile).
	TimeOut(ctx context.Context, sid string, since time.Time) (bool, error)
}

// What waiting callers hear.
const (
	sayLobbyWait    = "Please wait, someone will let you in."
	sayLobbyTimeout = "Nobody has let you in. Please try again later. Goodbye."
	sayLobbyDenied  = "Sorry, you were not let in to this meeting. Goodbye."
)

// Defaults of the lobby.
const (
	// DefaultLobbyMusicURL is Twilio's public hold music.
	DefaultLobbyMusicURL = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
	DefaultLobbyTimeout  = 10 * time.Minute
)

// skipsLobby reports whether a caller goes straight in: a directory admin does.
func skipsLobby(id roster.Identity) bool {
	return id.Directory && id.Role == "admin"
}

// lobbyTwiML is what a waiting caller hears: the music, then a <Redirect> back to the lobby
// endpoint, which plays it again; first, on arrival, the greeting and the wait message.
func (h *Handler) lobbyTwiML(topic rooms.Topic, arriving bool) (string, error) {
	var els []twiml.Element
	if arriving {
		els = append(els, h.greeting(topic.Name)...)
		els = append(els, h.say(sayLobbyWait))
	}
	els = append(els,
		&twiml.VoicePlay{Url: h.opts.LobbyMusicURL},
		&twiml.VoiceRedirect{Method: "POST", Url: h.opts.PublicURL + PathLobby + "?topic=" + url.QueryEscape(topic.ID)},
	)
	return twiml.Voice(els)
}

// wait answers a routed call of a topic with a lobby: the caller waits, unless it is a
// directory admin.
func (h *Handler) wait(req request, topic rooms.Topic, sid string, id roster.Identity) (reply, error) {
	call, err := h.opts.Lobby.Wait(req.ctx, sid, topic.ID, id)
	if err != nil {
		return reply{}, err
	}
	return h.waiting(req, topic, call, true)
}

// waiting answers a call of the lobby as it stands.
func (h *Handler) waiting(req request, topic rooms.Topic, call roster.Call, arriving bool) (reply, error) {
	switch call.State {
	case roster.Waiting:
		if time.Since(call.Since) >= h.opts.LobbyTimeout {
			if _, err := h.opts.Lobby.TimeOut(req.ctx, call.CallSID, call.Since); err != nil {
				return reply{}, err
			}
			req.log.Info("lobby wait timed out", "topic", topic.ID)
			x, err := h.TimeoutTwiML()
			return reply{twiml: x, result: "ok"}, err
		}
		x, err := h.lobbyTwiML(topic, arriving)
		return reply{twiml: x, result: "ok"}, err
	case roster.Routing, roster.Online:
		// Admitted: Twilio moves the call with new TwiML; a redirect that crossed it joins too.
		x, err := h.AdmitTwiML(req.ctx, topic.ID)
		return reply{twiml: x, result: "ok"}, err
	}
	x, err := h.goodbyeTwiML(sayLobbyTimeout)
	return reply{twiml: x, result: "ok"}, err
}

// lobby answers a waiting caller's <Redirect>: the music again, or, once its time is up,
// the timeout message and a hang-up.
func (h *Handler) lobby(req request) (reply, error) {
	in, err := parseIncoming(req.form)
	if err != nil {
		return reply{}, err
	}
	topicID := req.url.Query().Get("topic")
	topic, ok := h.rooms().Topic(topicID)
	if !ok || h.opts.Lobby == nil {
		req.log.Info("lobby redirect for a topic that is gone", "topic", topicID)
		x, err := h.goodbyeTwiML(sayNoMeeting)
		return reply{twiml: x, result: "ignored"}, err
	}
	call, err := h.opts.Lobby.Wait(req.ctx, in.CallSID, topic.ID, h.identity(in))
	if err != nil {
		return reply{}, err
	}
	return h.waiting(req, topic, call, false)
}

// AdmitTwiML is what an admitted caller gets: the roll call when its topic has one, then the
// topic's conference, as any routed call.
func (h *Handler) AdmitTwiML(ctx context.Context, topicID string) (string, error) {
	topic, _ := h.rooms().Topic(topicID)
	return h.enterTwiML(ctx, topic, nil)
}

// DenyTwiML is what a caller an admin did not let in hears before the call ends.
func (h *Handler) DenyTwiML() (string, error) { return h.goodbyeTwiML(sayLobbyDenied) }

// TimeoutTwiML is what a caller nobody let in hears when DIALIN_LOBBY_TIMEOUT is up.
func (h *Handler) TimeoutTwiML() (string, error) { return h.goodbyeTwiML(sayLobbyTimeout) }
