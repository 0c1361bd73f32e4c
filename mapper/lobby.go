package mapper

import "time"

// LobbyEventName is the socket event that tells a topic's admins of its lobby.
const LobbyEventName = "LOBBY_EVENT"

// The states of a caller in a lobby.
const (
	LobbyWaiting  = "waiting"
	LobbyAdmitted = "admitted"
	LobbyDenied   = "denied"
	LobbyLeft     = "left"
)

// LobbyEvent is a LOBBY_EVENT payload: a caller of the topic's lobby and where it stands.
type LobbyEvent struct {
	TopicID     string `json:"topicId"`
	CallSID     string `json:"callSid"`
	DisplayName string `json:"displayname"`
	State       string `json:"state"`
	// Since is when the caller began waiting, or for any other state, when it came to it,
	// as RFC 3339.
	Since string `json:"since"`
}

// Waiting is a caller in a lobby, as the lobby's listing shows it.
type Waiting struct {
	CallSID     string `json:"callSid"`
	DisplayName string `json:"displayname"`
	Since       string `json:"since"`
}

// Time is t as lobby events and listings write it: RFC 3339 in UTC.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339) }
