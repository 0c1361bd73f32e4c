// Package webparties keeps, per topic, the web parties online, for the roll call phone
// callers hear: those that announced themselves through the bridge's own socket (until they
// leave or their connection drops) and, in platform mode, those the platform's broadcasts
// show. With several instances (Redis) each instance shares what it knows, so that a caller
// on any instance hears the same room; what an instance that stopped had shared goes with
// it.
package webparties

import (
	"context"
	"sync"
	"time"

	"github.com/dialin-bridge/dialin-bridge/internal/clip"
)

// Bounds on what is kept. Web parties of the bridge's own clients are bounded by its
// connection caps; the platform's broadcasts are untrusted, so what they add is capped.
const (
	maxName           = 200 // bytes of a display name kept
	maxID             = 200 // bytes of a party's id kept
	maxPlatformTopics = 10000
	maxPlatformPerTop = 1000
	// PlatformTTL is how long a web party the platform showed online is kept without being
	// heard of again: a platform node that stops without its clients' leaves must not leave
	// them in every roll call for ever.
	PlatformTTL = 12 * time.Hour
)

// party is a web party online.
type party struct {
	ID   string    `json:"i"` // the user's id (token sub), the same on every connection
	Name string    `json:"n,omitempty"`
	At   time.Time `json:"t"` // when it was last heard of
}

// Tracker keeps the web parties online. Its methods never block on the network: what it
// shares goes through a queue to Run's goroutine.
type Tracker struct {
	shared *shared // nil: this instance alone
	now    func() time.Time

	mu     sync.Mutex
	topics map[string]map[string]party // topic → key → party
	nplat  int                         // platform parties kept
}

// New returns a tracker of this instance alone.
func New() *Tracker {
	return &Tracker{topics: make(map[string]map[string]party), now: time.Now}
}

// Session keys a party by the connection of the bridge's own that announced it.
func Session(connID string) string { return "s:" + connID }

// Platform keys a party by its id on the platform.
func Platform(id string) string { return "p:" + clip.String(id, maxID) }

func isPlatform(key string) bool { return len(key) > 2 && key[:2] == "p:" }

// Online records that a web party is online in a topic, under key (Session or Platform).
func (t *Tracker) Online(topicID, key, id, name string) {
	key = clip.String(key, maxID+2)
	p := party{ID: clip.String(id, maxID), Name: clip.String(name, maxName), At: t.now()}
	t.mu.Lock()
	parties := t.topics[topicID]
	if parties == nil {
		if isPlatform(key) && len(t.topics) >= maxPlatformTopics {
			t.mu.Unlock()
			return
		}
		parties = make(map[string]party)
		t.topics[topicID] = parties
	}
	if _, had := parties[key]; !had && isPlatform(key) {
		if t.nplat >= maxPlatformTopics*10 || len(parties) >= maxPlatformPerTop {
			t.mu.Unlock()
			return
		}
		t.nplat++
	}
	parties[key] = p
	t.mu.Unlock()
	if t.shared != nil {
		t.shared.queue(op{topic: topicID, key: key, party: &p})
	}
}

// Left records that the web party under key left a topic (it said so, or its connection
// dropped).
func (t *Tracker) Left(topicID, key string) {
	key = clip.String(key, maxID+2)
	t.mu.Lock()
	if parties := t.topics[topicID]; parties != nil {
		if _, had := parties[key]; had {
			delete(parties, key)
			if isPlatform(key) {
				t.nplat--
			}
		}
		if len(parties) == 0 {
			delete(t.topics, topicID)
		}
	}
	t.mu.Unlock()
	if t.shared != nil {
		t.shared.queue(op{topic: topicID, key: key})
	}
}

// Present returns the display names of the web parties online in a topic, one per user
// ("" for one without a name), ordered by when they were heard of.
func (t *Tracker) Present(ctx context.Context, topicID string) ([]string, error) {
	all := t.local(topicID)
	if t.shared != nil {
		remote, err := t.shared.present(ctx, topicID)
		if err != nil {
			return nil, err
		}
		for k, p := range remote {
			if _, mine := all[k]; !mine {
				all[k] = p
			}
		}
	}
	return names(all, t.now()), nil
}

// local is a copy of what this instance knows of a topic, by shared field name.
func (t *Tracker) local(topicID string) map[string]party {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]party, len(t.topics[topicID]))
	for k, p := range t.topics[topicID] {
		out[t.field(k)] = p
	}
	return out
}

// field is a key as shared: a session's under this instance's name.
func (t *Tracker) field(key string) string {
	if t.shared == nil || isPlatform(key) {
		return key
	}
	return "i:" + t.shared.instance + ":" + key
}

// names lists one name per user, oldest first; platform parties not heard of within
// PlatformTTL are left out.
func names(all map[string]party, now time.Time) []string {
	byID := make(map[string]party, len(all))
	for k, p := range all {
		if isPlatform(k) && now.Sub(p.At) > PlatformTTL {
			continue
		}
		if q, ok := byID[p.ID]; !ok || (q.Name == "" && p.Name != "") {
			byID[p.ID] = p
		}
	}
	list := make([]party, 0, len(byID))
	for _, p := range byID {
		list = append(list, p)
	}
	sortByTime(list)
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Name
	}
	return out
}

// sweep forgets platform parties not heard of within PlatformTTL.
func (t *Tracker) sweep() {
	cutoff := t.now().Add(-PlatformTTL)
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, parties := range t.topics {
		for k, p := range parties {
			if isPlatform(k) && p.At.Before(cutoff) {
				delete(parties, k)
				t.nplat--
			}
		}
		if len(parties) == 0 {
			delete(t.topics, topic)
		}
	}
}

// snapshot is a copy of everything this instance knows, by topic and shared field name.
func (t *Tracker) snapshot() map[string]map[string]party {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]map[string]party, len(t.topics))
	for topic, parties := range t.topics {
		m := make(map[string]party, len(parties))
		for k, p := range parties {
			m[t.field(k)] = p
		}
		out[topic] = m
	}
	return out
}
