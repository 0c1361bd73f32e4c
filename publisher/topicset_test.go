package publisher

import (
	"fmt"
	"slices"
	"testing"
)

// TestTopicIndex: subscribers of a topic are found whether it has one or many, and a topic
// whose last subscriber left holds nothing.
func TestTopicIndex(t *testing.T) {
	x := newTopicIndex()
	a, b, c := &session{}, &session{}, &session{}
	k, other := keyOf("t1"), keyOf("t2")
	got := func() []*session { return x.appendTo(nil, k) }
	x.add(k, a)
	x.add(k, a)
	if s := got(); len(s) != 1 || s[0] != a || x.count(k) != 1 {
		t.Fatalf("one subscriber: %v", s)
	}
	x.add(k, b)
	x.add(k, c)
	x.add(other, c)
	if s := got(); len(s) != 3 || !slices.Contains(s, a) || !slices.Contains(s, b) || !slices.Contains(s, c) {
		t.Fatalf("three subscribers: %v", s)
	}
	x.remove(k, a)
	x.remove(k, b)
	if s := got(); len(s) != 1 || s[0] != c {
		t.Fatalf("after two left: %v", s)
	}
	x.remove(k, c)
	x.remove(other, c)
	if len(x.solo) != 0 || len(x.crowd) != 0 {
		t.Fatalf("an empty index holds %d solo, %d crowd", len(x.solo), len(x.crowd))
	}
	var set topicSet
	for i := range 300 {
		set.add(keyOf(fmt.Sprint(i % 256)))
	}
	if len(set) != 256 || !slices.IsSortedFunc(set, compareKeys) || !set.has(keyOf("17")) || set.has(keyOf("x")) {
		t.Fatalf("topic set of %d", len(set))
	}
	if !set.remove(keyOf("17")) || set.has(keyOf("17")) || set.remove(keyOf("17")) {
		t.Fatal("remove")
	}
}
