package publisher

import (
	"hash/maphash"
	"slices"
)

// topicKey stands for a topic id in the subscription index: 128 bits of two keyed hashes,
// an eighth of a 128-character id. The seeds are the process's own and secret, so nobody
// can choose ids that collide.
type topicKey [2]uint64

var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func keyOf(topicID string) topicKey {
	return topicKey{maphash.String(keySeeds[0], topicID), maphash.String(keySeeds[1], topicID)}
}

func compareKeys(a, b topicKey) int {
	switch {
	case a[0] != b[0]:
		return cmpUint(a[0], b[0])
	default:
		return cmpUint(a[1], b[1])
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// topicSet is the topics one connection subscribes to: a sorted slice of keys, 16 bytes a
// subscription (a map would take twice that, the ids themselves eight times).
type topicSet []topicKey

func (s topicSet) has(k topicKey) bool {
	_, found := slices.BinarySearchFunc(s, k, compareKeys)
	return found
}

// add adds k; it reports whether it was new.
func (s *topicSet) add(k topicKey) bool {
	i, found := slices.BinarySearchFunc(*s, k, compareKeys)
	if found {
		return false
	}
	*s = slices.Insert(*s, i, k)
	return true
}

// remove removes k; it reports whether it was there.
func (s *topicSet) remove(k topicKey) bool {
	i, found := slices.BinarySearchFunc(*s, k, compareKeys)
	if found {
		*s = slices.Delete(*s, i, i+1)
	}
	return found
}

// subscribers are a topic's subscribers on this instance: most topics have one, which needs
// no map of its own.
type subscribers struct {
	one  *session
	many map[*session]struct{}
}

func (t subscribers) len() int {
	if t.many != nil {
		return len(t.many)
	}
	if t.one != nil {
		return 1
	}
	return 0
}

func (t subscribers) appendTo(out []*session) []*session {
	if t.one != nil {
		out = append(out, t.one)
	}
	for sess := range t.many {
		out = append(out, sess)
	}
	return out
}

func (t *subscribers) add(sess *session) {
	switch {
	case t.one == sess:
	case t.one == nil && t.many == nil:
		t.one = sess
	default:
		if t.many == nil {
			t.many = map[*session]struct{}{}
		}
		t.many[sess] = struct{}{}
	}
}

func (t *subscribers) remove(sess *session) {
	if t.one == sess {
		t.one = nil
		return
	}
	delete(t.many, sess)
	if len(t.many) == 0 {
		t.many = nil
	}
}
