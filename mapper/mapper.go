// Package mapper turns the state of a phone call into the presence events that the room
// platform's clients understand. It is pure: call state in, event structs out, no I/O and none
// of dialin-bridge's other packages.
package mapper

// Event categories of PRESENCE_EVENT_RESPONSE.
const (
	CategoryOnline         = "app.event.presence.party.online"
	CategoryLeaves         = "app.event.presence.party.leaves"
	CategoryRequestParties = "app.event.presence.request.parties"
	CategoryRemoved        = "party.removed"
	CategoryInvalid        = "media.session.invalid"
)

// EmittedBy is the content.emitedby value (spelled as the room platform spells it) that marks
// an event as coming from the dial-in bridge.
const EmittedBy = "wcs"

// SenderPhone is the sender type of a dial-in party.
const SenderPhone = "phone"

// DefaultRole is the role of a caller who is not in the directory.
const DefaultRole = "guest"

// Party is what the bridge knows of one phone party: its call, its identity as the room shows
// it, and its media state.
type Party struct {
	CallSID     string
	TopicID     string
	Username    string
	DisplayName string
	PictureURL  string
	Role        string // empty means DefaultRole
	Muted       bool
	OnHold      bool
	// Ringing marks a dial-out that has not answered yet: shown online, not connected.
	Ringing bool
	// Speaking is whether the party is talking; nil when speech is not shown.
	Speaking *bool
	// Reason is why the party left (Leaves only): one of the Reason values.
	Reason string
	// Version orders the party's events (see Event.Version).
	Version int64
}

// Why a party left: content.reason of its leaves.
const (
	ReasonHungUp          = "hung_up"
	ReasonRemoved         = "removed"
	ReasonConferenceEnded = "conference_ended"
	ReasonNoAnswer        = "no_answer"
	ReasonBusy            = "busy"
	ReasonFailed          = "failed"
	ReasonCanceled        = "canceled"
	ReasonLost            = "lost"
)

// Sender is the sender object of a presence event.
type Sender struct {
	ID          string `json:"_id"`
	Type        string `json:"type"`
	Username    string `json:"username"`
	DisplayName string `json:"displayname"`
	PictureURL  string `json:"picture_url"`
}

// MediaSession is content.mediaSession of a presence event.
type MediaSession struct {
	Video       bool `json:"video"`
	Audio       bool `json:"audio"`
	Connected   bool `json:"connected"`
	Screenshare bool `json:"screenshare"`
	SelfMuted   bool `json:"selfMuted"`
	Phone       bool `json:"phone"`
	// Speaking is present only when the bridge shows who is speaking (DIALIN_SPEAKING).
	Speaking *bool `json:"speaking,omitempty"`
}

// Content is the content object of a dial-in presence event.
type Content struct {
	Offline      bool         `json:"offline"`
	Role         string       `json:"role"`
	MediaSession MediaSession `json:"mediaSession"`
	Idle         bool         `json:"idle"`
	Desktop      bool         `json:"desktop"`
	EmittedBy    string       `json:"emitedby"`
	SessionID    string       `json:"sessionId"`
	// Reason says why a party left; leaves only.
	Reason string `json:"reason,omitempty"`
}

// Event is a dial-in PRESENCE_EVENT_RESPONSE payload.
type Event struct {
	ID       string  `json:"_id"`
	Category string  `json:"category"`
	TopicID  string  `json:"topicId"`
	Sender   Sender  `json:"sender"`
	Content  Content `json:"content"`
	// Version orders the events of one call: a receiver that has delivered a higher one
	// drops this one. It is not sent to clients.
	Version int64 `json:"-"`
}

// Online is the event that shows p connected to the room's audio, in its current state; a
// ringing dial-out is shown online but not connected, with no audio. id is the event's
// fresh _id.
func Online(p Party, id string) Event {
	ev := event(p, id, CategoryOnline, !p.Ringing)
	if p.Ringing {
		ev.Content.MediaSession.Audio = false
		ev.Content.MediaSession.Phone = true
	}
	return ev
}

// Leaves is the event that takes p out of the room, saying why (p.Reason, hung_up when
// empty). It keeps p's last media state but is no longer connected, nor on the phone.
func Leaves(p Party, id string) Event {
	ev := event(p, id, CategoryLeaves, false)
	ev.Content.Reason = p.Reason
	if ev.Content.Reason == "" {
		ev.Content.Reason = ReasonHungUp
	}
	if p.Speaking != nil {
		ev.Content.MediaSession.Speaking = new(bool)
	}
	return ev
}

func event(p Party, id, category string, connected bool) Event {
	role := p.Role
	if role == "" {
		role = DefaultRole
	}
	return Event{
		Version:  p.Version,
		ID:       id,
		Category: category,
		TopicID:  p.TopicID,
		Sender: Sender{
			ID:          p.CallSID,
			Type:        SenderPhone,
			Username:    p.Username,
			DisplayName: p.DisplayName,
			PictureURL:  p.PictureURL,
		},
		Content: Content{
			Role: role,
			MediaSession: MediaSession{
				Audio:     !p.OnHold,
				Connected: connected,
				SelfMuted: p.Muted,
				Phone:     connected,
				Speaking:  p.Speaking,
			},
			EmittedBy: EmittedBy,
			SessionID: p.CallSID,
		},
	}
}
