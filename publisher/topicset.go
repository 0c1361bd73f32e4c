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

// topicIndex holds the subscribers of each topic on this instance. Most topics have one,
// kept in solo (a pointer a topic); a topic with more has them in crowd instead.
type topicIndex struct {
	solo  map[topicKey]*session
	crowd map[topicKey]map[*session]struct{}
}

func newTopicIndex() topicIndex {
	return topicIndex{solo: map[topicKey]*session{}, crowd: map[topicKey]map[*session]struct{}{}}
}

func (x topicIndex) count(k topicKey) int {
	if x.solo[k] != nil {
		return 1
	}
	return len(x.crowd[k])
}

func (x topicIndex) appendTo(out []*session, k topicKey) []*session {
	if one := x.solo[k]; one != nil {
		return append(out, one)
	}
	for sess := range x.crowd[k] {
		out = append(out, sess)
	}
	return out
}

func (x topicIndex) add(k topicKey, sess *session) {
	if set := x.crowd[k]; set != nil {
		set[sess] = struct{}{}
		return
	}
	switch one := x.solo[k]; one {
	case nil:
		x.solo[k] = sess
	case sess:
	default:
		delete(x.solo, k)
		x.crowd[k] = map[*session]struct{}{one: {}, sess: {}}
	}
}

func (x topicIndex) remove(k topicKey, sess *session) {
	if x.solo[k] == sess {
		delete(x.solo, k)
		return
	}
	set := x.crowd[k]
	delete(set, sess)
	switch len(set) {
	case 0:
		delete(x.crowd, k)
	case 1:
		for one := range set {
			x.solo[k] = one
		}
		delete(x.crowd, k)
	}
}
