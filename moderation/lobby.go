package moderation

import (
	"context"
	"errors"
	"net/http"

	"github.com/dialin-bridge/dialin-bridge/mapper"
	"github.com/dialin-bridge/dialin-bridge/presence"
)

// The lobby's routes (contract §7).
const (
	PathLobby       = "GET /api/topics/{topicId}/lobby"
	PathLobbyCaller = "POST /api/topics/{topicId}/lobby/{callSid}"
)

// LobbyCore is what the lobby's routes need of the presence core.
type LobbyCore interface {
	Lobby(ctx context.Context, topicID string) ([]mapper.Waiting, error)
	Decide(ctx context.Context, topicID, sid string, admit bool) error
}

// RegisterLobby adds the lobby's routes to mux: the callers waiting in a topic's lobby, and
// an admin's decision on one.
func (a *API) RegisterLobby(mux *http.ServeMux, core LobbyCore) {
	mux.HandleFunc(PathLobby, func(w http.ResponseWriter, r *http.Request) {
		topicID := r.PathValue("topicId")
		if a.Authorize(w, r, topicID, true) == nil {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		waiting, err := core.Lobby(ctx, topicID)
		if err != nil {
			a.o.Log.Error("list the lobby", "topic", topicID, "err", err)
			WriteError(w, http.StatusServiceUnavailable, "the phone roster is not available")
			return
		}
		WriteJSON(w, http.StatusOK, waiting)
	})
	mux.HandleFunc(PathLobbyCaller, func(w http.ResponseWriter, r *http.Request) {
		// Refusals before the body is read are counted as "lobby"; then as admit or deny.
		x, ok := a.begin(w, r, "lobby")
		if !ok {
			return
		}
		var body struct {
			Admit *bool `json:"admit"`
		}
		if err := DecodeBody(w, r, &body); err != nil {
			x.done(w, http.StatusBadRequest, err.Error())
			return
		}
		if body.Admit == nil {
			x.done(w, http.StatusBadRequest, "malformed body: admit is required")
			return
		}
		x.action = pick(*body.Admit, "admit", "deny")
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if err := core.Decide(ctx, x.topic, x.sid, *body.Admit); err != nil {
			if errors.Is(err, presence.ErrNotWaiting) {
				x.done(w, http.StatusNotFound, err.Error())
				return
			}
			code, msg := status(err)
			if code == http.StatusServiceUnavailable {
				a.o.Log.Error("lobby decision failed", "topic", x.topic, "call_sid", x.sid, "err", err)
			}
			x.done(w, code, msg)
			return
		}
		x.done(w, http.StatusAccepted, map[string]string{"callSid": x.sid})
	})
}
