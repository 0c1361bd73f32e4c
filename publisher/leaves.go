package publisher

import "encoding/json"

// leftState is what the leaves sent on a client's behalf (it dropped, or unsubscribed)
// says of it in a topic: its last announced state, disconnected. Only the presence fields
// are kept, each string at most maxLeftField bytes, not the whole content the client sent
// (up to 16 KiB, for each of 256 topics): a connection holds little whatever it announces.
type leftState struct {
	Role, SessionID                   string
	Offline, Idle, Desktop, SelfMuted bool
}

// maxLeftField bounds each string a leftState keeps; a longer one is not kept (the role
// then is the token's).
const maxLeftField = 128

// leftStateOf reads what a leaves will say from a client's online content. The content was
// checked to be a JSON object; a field of another type is left out.
func leftStateOf(content json.RawMessage, sess *session) leftState {
	var c struct {
		Role         string `json:"role"`
		SessionID    string `json:"sessionId"`
		Offline      bool   `json:"offline"`
		Idle         bool   `json:"idle"`
		Desktop      bool   `json:"desktop"`
		MediaSession struct {
			SelfMuted bool `json:"selfMuted"`
		} `json:"mediaSession"`
	}
	json.Unmarshal(content, &c) // a field of another type stays zero; the rest is read
	l := leftState{Offline: c.Offline, Idle: c.Idle, Desktop: c.Desktop, SelfMuted: c.MediaSession.SelfMuted,
		Role: sess.claims.Role}
	if c.Role != "" && len(c.Role) <= maxLeftField {
		l.Role = c.Role
	}
	if len(c.SessionID) <= maxLeftField {
		l.SessionID = c.SessionID
	}
	return l
}

// content is the leaves' content, in the shape of the platform's presence events.
func (l leftState) content() json.RawMessage {
	type mediaSession struct {
		Audio       bool `json:"audio"`
		Video       bool `json:"video"`
		Connected   bool `json:"connected"`
		Phone       bool `json:"phone"`
		SelfMuted   bool `json:"selfMuted"`
		Screenshare bool `json:"screenshare"`
	}
	b, err := json.Marshal(struct {
		Offline      bool         `json:"offline"`
		Idle         bool         `json:"idle"`
		MediaSession mediaSession `json:"mediaSession"`
		Desktop      bool         `json:"desktop"`
		Role         string       `json:"role"`
		SessionID    string       `json:"sessionId,omitempty"`
	}{l.Offline, l.Idle, mediaSession{SelfMuted: l.SelfMuted}, l.Desktop, l.Role, l.SessionID})
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}
