package publisher

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// PathParties is the operator endpoint listing a topic's phone parties.
const PathParties = "GET /api/topics/{topicId}/parties"

// PartiesHandler serves PathParties: the topic's phone parties as a JSON array of online
// events, for a bearer token that grants the topic.
func (s *Server) PartiesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		topicID := r.PathValue("topicId")
		claims, err := s.auth.Verify(bearerToken(r.Header.Get("Authorization")))
		if err != nil {
			s.obs.Refused("api")
			w.Header().Set("WWW-Authenticate", `Bearer realm="dialin-bridge"`)
			http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		if claims == nil {
			claims = Anonymous("dev-api")
		}
		if !claims.Grants(topicID) {
			s.obs.Refused("api")
			http.Error(w, "the token does not grant this topic", http.StatusForbidden)
			return
		}
		events := []mapper.Event{}
		if s.roster != nil {
			ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
			defer cancel()
			if events, err = s.roster.Parties(ctx, topicID); err != nil {
				s.log.Error("list phone parties", "topic", topicID, "err", err)
				http.Error(w, "the phone roster is not available", http.StatusServiceUnavailable)
				return
			}
			if events == nil {
				events = []mapper.Event{}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(events)
	})
}

// bearerToken returns the token of an Authorization header of the Bearer scheme, whose name
// is case-insensitive (RFC 9110 §11.1): "Bearer", "bearer" and "BEARER" all count. It returns
// "" for any other header.
func bearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Relay sends an event that is not a phone party's (an admin's party.removed) to every
// subscriber of the topic on every instance.
func (s *Server) Relay(topicID string, payload any) { s.broadcast(topicID, payload) }

// Authorize checks an Authorization header's bearer token: nil claims and ErrBadToken for
// none or a bad one (in dev mode, no token is the anonymous admin).
func (s *Server) Authorize(header string) (*Claims, error) {
	claims, err := s.auth.Verify(bearerToken(header))
	if err != nil {
		return nil, err
	}
	if claims == nil {
		claims = Anonymous("dev-api")
	}
	return claims, nil
}
