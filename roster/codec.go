package roster

import (
	"encoding/json"
	"fmt"
)

func decodeCall(sid string, v []byte) (Call, error) {
	var c Call
	if err := json.Unmarshal(v, &c); err != nil {
		return Call{}, fmt.Errorf("decode call %s: %w", sid, err)
	}
	c.CallSID = sid
	return c, nil
}

// updated is one update of a stored call: the call before and after fn, and after's
// encoding when it is to be saved.
type updated struct {
	before, after Call
	found, save   bool
	value         []byte
}

// updateCall is what every encoding store does in an update: it decodes the stored value
// of call sid (nil when there is none), lets fn change the call, and encodes it when fn
// wants it saved.
func updateCall(sid string, stored []byte, fn func(c *Call, found bool) bool) (updated, error) {
	u := updated{before: Call{CallSID: sid}, found: stored != nil}
	if u.found {
		var err error
		if u.before, err = decodeCall(sid, stored); err != nil {
			return u, err
		}
	}
	c := u.before
	if !fn(&c, u.found) {
		return u, nil
	}
	c.CallSID = sid
	v, err := json.Marshal(c)
	if err != nil {
		return u, fmt.Errorf("encode call: %w", err)
	}
	u.after, u.save, u.value = c, true, v
	return u, nil
}
