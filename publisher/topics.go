package publisher

import (
	"encoding/json"
	"net/http"
)

// PathTopics is the operator endpoint listing the topics a token grants.
const PathTopics = "GET /api/topics"

// Topic is one entry of PathTopics' answer.
type Topic struct {
	ID   string `json:"topicId"`
	Name string `json:"name,omitempty"`
}

// TopicsHandler serves PathTopics: of the topics list returns (the rooms file's, in its
// order), those the bearer token grants, as a JSON array; with "*" all of them. In dev mode a
// request without a token acts as Anonymous. A refused token gets 401 with {"error": "<one line>"}.
func (s *Server) TopicsHandler(list func() []Topic) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := s.auth.Verify(bearerToken(r.Header.Get("Authorization")))
		if err != nil {
			s.obs.Refused("api")
			w.Header().Set("WWW-Authenticate", `Bearer realm="dialin-bridge"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		if claims == nil {
			claims = Anonymous("dev-api")
		}
		granted := []Topic{}
		for _, t := range list() {
			if claims.Grants(t.ID) {
				granted = append(granted, t)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(granted)
	})
}
