package webhook

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twilio/twilio-go/twiml"
)

// Room says who is in a topic's room now, for the roll call.
type Room interface {
	Present(ctx context.Context, topicID string) (Present, error)
}

// Present is who is in a topic's room: the web parties online and the phone parties.
type Present struct {
	// Web are the display names of the web parties online ("" for one without a name).
	Web []string
	// Known are the display names of the phone parties from the directory.
	Known []string
	// Unknown counts the other phone parties: they are never read out.
	Unknown int
}

// maxNamesRead is how many names a roll call reads; the rest are counted.
const maxNamesRead = 5

// maxSpokenName is the longest name a roll call reads, in characters; a longer one is
// counted, not read.
const maxSpokenName = 64

// rollCallTimeout bounds the look-up of who is in the room: a caller must not wait on it.
const rollCallTimeout = 2 * time.Second

// rollCallText is what a caller hears of who is in the room: "You are the first one here."
// or "There are 3 people here: Ann Lee, Bob Stone and 1 phone caller." It reads at most
// maxNamesRead names, never a number; unnamed web parties and names that cannot be spoken
// safely count as others, phone parties outside the directory as phone callers.
func rollCallText(p Present) string {
	var names []string
	others := 0
	for _, group := range [][]string{p.Web, p.Known} {
		for _, n := range group {
			if s, ok := speakable(n); ok && len(names) < maxNamesRead {
				names = append(names, s)
			} else {
				others++
			}
		}
	}
	total := len(names) + others + p.Unknown
	if total == 0 {
		return "You are the first one here."
	}
	parts := names
	if p.Unknown > 0 {
		parts = append(parts, count(p.Unknown, "phone caller", "phone callers"))
	}
	if others > 0 {
		if len(names) > 0 {
			parts = append(parts, count(others, "other", "others"))
		} else {
			parts = append(parts, count(others, "person", "people"))
		}
	}
	list := parts[0]
	if len(parts) > 1 {
		list = strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	if total == 1 {
		return "There is 1 person here: " + list + "."
	}
	return "There are " + strconv.Itoa(total) + " people here: " + list + "."
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// speakable is a display name as a roll call may read it, or false when it must be left
// out: empty, too long, or holding anything that is not text (control characters, invalid
// UTF-8) or that looks like a phone number (more than 4 digits). Markup and symbols become
// spaces: the name is read as words, never as a tag or a number.
func speakable(name string) (string, bool) {
	return clean(name, maxSpokenName, 4)
}

// clean is name with everything but letters, digits and a few marks of names made spaces,
// or false when it is longer than maxLen characters, holds more than maxDigits digits,
// holds control characters or invalid UTF-8, or has no letter.
func clean(name string, maxLen, maxDigits int) (string, bool) {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxLen {
		return "", false
	}
	var b strings.Builder
	digits := 0
	space := true // no leading space
	for _, r := range name {
		switch {
		case unicode.IsControl(r) || r == utf8.RuneError:
			return "", false
		case unicode.IsDigit(r):
			digits++
			fallthrough
		case unicode.IsLetter(r) || unicode.IsMark(r) || r == '.' || r == '-' || r == '\'' || r == '’':
			b.WriteRune(r)
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	s := strings.TrimSpace(b.String())
	if digits > maxDigits || strings.IndexFunc(s, unicode.IsLetter) < 0 {
		return "", false
	}
	return s, true
}

// greeting is what a routed caller hears first: "Welcome to <name>." (nothing for a topic
// without a name, or one whose name cannot be spoken safely).
func (h *Handler) greeting(name string) []twiml.Element {
	if name == "" {
		return nil
	}
	s, ok := clean(name, 2*maxTopicName, maxTopicName)
	if !ok {
		return nil
	}
	return []twiml.Element{h.say("Welcome to " + s + ".")}
}

// maxTopicName bounds a topic's name as spoken; the rooms file allows at most 100
// characters.
const maxTopicName = 100

// rollCall is what a caller of topicID hears of who is in its room: nil when the topic has
// no roll call, or when who is there cannot be learnt in time (the caller joins all the
// same).
func (h *Handler) rollCall(ctx context.Context, topicID string, on bool) []twiml.Element {
	if !on || h.opts.Room == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rollCallTimeout)
	defer cancel()
	p, err := h.opts.Room.Present(ctx, topicID)
	if err != nil {
		h.log.Warn("roll call skipped: who is in the room is not known", "topic", topicID, "err", err)
		return nil
	}
	return []twiml.Element{h.say(rollCallText(p))}
}
