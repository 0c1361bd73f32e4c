package mapper

import "errors"

// PartyOf is the party an event shows: the inverse of Online and Leaves, for the bridge's
// parts that remember events rather than calls (to retract a party they showed online).
func PartyOf(ev Event) Party {
	ms := ev.Content.MediaSession
	return Party{
		CallSID:     ev.Sender.ID,
		TopicID:     ev.TopicID,
		Username:    ev.Sender.Username,
		DisplayName: ev.Sender.DisplayName,
		PictureURL:  ev.Sender.PictureURL,
		Role:        ev.Content.Role,
		Muted:       ms.SelfMuted,
		OnHold:      !ms.Audio,
		Ringing:     ev.Category == CategoryOnline && !ms.Connected,
		Speaking:    ms.Speaking,
		Reason:      ev.Content.Reason,
		Version:     ev.Version,
	}
}

// ErrUnknownParty marks a request about a call that is not a phone party of the topic. It
// lives here, beside the party, so that the presence core that returns it and the room
// sides that answer it (publisher, platform) share it without importing each other.
var ErrUnknownParty = errors.New("no such phone party in the topic")
