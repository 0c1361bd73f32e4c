package roster

import (
	"context"
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// buildIndex builds the live index from the file, when the store opens.
func (b *Bolt) buildIndex(db *bolt.DB) error {
	b.live = map[string]map[string]struct{}{}
	return db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCalls).ForEach(func(k, v []byte) error {
			var c struct {
				TopicID string `json:"t"`
				State   State  `json:"s"`
			}
			if json.Unmarshal(v, &c) == nil && c.State != Ended {
				b.index(c.TopicID, string(k))
			}
			return nil
		})
	})
}

// index and unindex change the live index; b.liveMu is held, or the store not yet shared.
func (b *Bolt) index(topicID, sid string) {
	t := b.live[topicID]
	if t == nil {
		t = map[string]struct{}{}
		b.live[topicID] = t
	}
	t[sid] = struct{}{}
}

func (b *Bolt) unindex(topicID, sid string) {
	if t := b.live[topicID]; t != nil {
		delete(t, sid)
		if len(t) == 0 {
			delete(b.live, topicID)
		}
	}
}

// Topic implements Store.
func (b *Bolt) Topic(ctx context.Context, topicID string) ([]Call, error) {
	b.liveMu.RLock()
	sids := make([]string, 0, len(b.live[topicID]))
	for sid := range b.live[topicID] {
		sids = append(sids, sid)
	}
	b.liveMu.RUnlock()
	return b.calls(sids, topicID)
}

// Live implements Store.
func (b *Bolt) Live(ctx context.Context) ([]Call, error) {
	b.liveMu.RLock()
	var sids []string
	for _, t := range b.live {
		for sid := range t {
			sids = append(sids, sid)
		}
	}
	b.liveMu.RUnlock()
	return b.calls(sids, "")
}

// calls reads the calls sids that have not ended (of topic topicID, unless it is ""): the
// index was read before, and a call may have moved or ended since.
func (b *Bolt) calls(sids []string, topicID string) ([]Call, error) {
	var out []Call
	err := b.db.View(func(tx *bolt.Tx) error {
		calls := tx.Bucket(bucketCalls)
		for _, sid := range sids {
			v := calls.Get([]byte(sid))
			if v == nil {
				continue
			}
			c, err := decodeCall(sid, v)
			if err != nil {
				return err
			}
			if c.State != Ended && (topicID == "" || c.TopicID == topicID) {
				out = append(out, c)
			}
		}
		return nil
	})
	return out, err
}
