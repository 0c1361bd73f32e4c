package platform

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Every adapter message is untrusted network input: anyone who can publish on the platform's
// Redis can send one. Decoding is bounded in three ways:
//   - a message larger than MaxMessage is not decoded at all;
//   - before the msgpack library sees it, check walks the whole message without allocating,
//     and refuses one nested deeper than maxDepth or whose declared lengths (strings, arrays,
//     maps, binaries, extensions) exceed the bytes that remain. The library preallocates what
//     a header declares (up to a megabyte, or a million elements); after check, no header can
//     declare more than the message holds;
//   - the decoder keeps only a few strings (at most the message's size in all) and at most
//     maxRooms room names, skipping the rest.

// MaxMessage is the largest adapter message decoded. A presence event is at most 16 KiB
// (contract §3); what the platform broadcasts beyond that is not for the bridge.
const MaxMessage = 64 << 10

const (
	maxDepth = 16
	maxRooms = 64
)

// Errors of decoding.
var (
	ErrTooLarge  = errors.New("adapter message too large")
	ErrMalformed = errors.New("malformed adapter message")
)

// Message is what the bridge reads of an adapter broadcast.
type Message struct {
	UID   string   // the sending node
	Type  int      // socket.io packet type
	Nsp   string   // namespace
	Name  string   // the event's name (data[0])
	Rooms []string // rooms it is broadcast to
	Event Event    // data[1], when it is an object
}

// Event is what the bridge reads of a broadcast presence event.
type Event struct {
	ID         string
	Category   string
	TopicID    string
	SenderID   string
	SenderType string
	SenderName string // sender.displayname
	Attendee   string // content.attendee.attendee of party.removed
}

// Decode reads an adapter message of at most MaxMessage bytes.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessage {
		return Message{}, ErrTooLarge
	}
	if n, err := check(b, 0, 0); err != nil {
		return Message{}, err
	} else if n != len(b) {
		return Message{}, fmt.Errorf("%w: %d bytes after the message", ErrMalformed, len(b)-n)
	}
	d := msgpack.NewDecoder(bytes.NewReader(b))
	var m Message
	n, err := d.DecodeArrayLen()
	if err != nil || n < 3 {
		return Message{}, fmt.Errorf("%w: want [uid, packet, opts]", ErrMalformed)
	}
	if m.UID, err = d.DecodeString(); err != nil {
		return Message{}, fmt.Errorf("%w: uid: %v", ErrMalformed, err)
	}
	err = eachKey(d, func(key string) error {
		switch key {
		case "type":
			m.Type, err = d.DecodeInt()
			return err
		case "nsp":
			m.Nsp, err = d.DecodeString()
			return err
		case "data":
			return decodeData(d, &m)
		}
		return d.Skip()
	})
	if err != nil {
		return Message{}, fmt.Errorf("%w: packet: %v", ErrMalformed, err)
	}
	err = eachKey(d, func(key string) error {
		if key != "rooms" {
			return d.Skip()
		}
		n, err := d.DecodeArrayLen()
		if err != nil || n > maxRooms {
			return fmt.Errorf("rooms: want at most %d names", maxRooms)
		}
		for i := 0; i < n; i++ {
			room, err := d.DecodeString()
			if err != nil {
				return fmt.Errorf("rooms: %w", err)
			}
			m.Rooms = append(m.Rooms, room)
		}
		return nil
	})
	if err != nil {
		return Message{}, fmt.Errorf("%w: opts: %v", ErrMalformed, err)
	}
	return m, nil
}

// decodeData reads the packet's data: [name, payload, …].
func decodeData(d *msgpack.Decoder, m *Message) error {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 1 {
		return errors.New("data: want [name, …]")
	}
	if m.Name, err = d.DecodeString(); err != nil {
		return fmt.Errorf("data: name: %w", err)
	}
	for i := 1; i < n; i++ {
		if i == 1 && isMap(d) {
			err = decodeEvent(d, &m.Event)
		} else {
			err = d.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeEvent reads the fields of a presence event the bridge acts on.
func decodeEvent(d *msgpack.Decoder, ev *Event) error {
	return eachKey(d, func(key string) error {
		switch key {
		case "_id":
			return optString(d, &ev.ID)
		case "category":
			return optString(d, &ev.Category)
		case "topicId":
			return optString(d, &ev.TopicID)
		case "sender":
			return eachKey(d, func(key string) error {
				switch key {
				case "_id":
					return optString(d, &ev.SenderID)
				case "type":
					return optString(d, &ev.SenderType)
				case "displayname":
					return optString(d, &ev.SenderName)
				}
				return d.Skip()
			})
		case "content":
			return eachKey(d, func(key string) error {
				if key != "attendee" {
					return d.Skip()
				}
				return eachKey(d, func(key string) error {
					if key != "attendee" {
						return d.Skip()
					}
					return optString(d, &ev.Attendee)
				})
			})
		}
		return d.Skip()
	})
}

// eachKey calls fn for each key of the map that comes next, fn reading or skipping its value.
// A value that is not a map is skipped.
func eachKey(d *msgpack.Decoder, fn func(key string) error) error {
	if !isMap(d) {
		return d.Skip()
	}
	n, err := d.DecodeMapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if !isString(d) {
			if err := d.Skip(); err != nil {
				return err
			}
			if err := d.Skip(); err != nil {
				return err
			}
			continue
		}
		key, err := d.DecodeString()
		if err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return nil
}

// optString reads a string into s, or skips a value of another type.
func optString(d *msgpack.Decoder, s *string) error {
	if !isString(d) {
		return d.Skip()
	}
	v, err := d.DecodeString()
	*s = v
	return err
}

func isMap(d *msgpack.Decoder) bool {
	c, err := d.PeekCode()
	return err == nil && (msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32)
}

func isString(d *msgpack.Decoder) bool {
	c, err := d.PeekCode()
	return err == nil && (msgpcode.IsFixedString(c) || c == msgpcode.Str8 || c == msgpcode.Str16 || c == msgpcode.Str32)
}

// check walks the msgpack value at b[pos:] without allocating and returns where it ends. It
// refuses values nested deeper than maxDepth and lengths beyond the bytes that remain.
func check(b []byte, pos, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	if pos >= len(b) {
		return 0, fmt.Errorf("%w: truncated", ErrMalformed)
	}
	c := b[pos]
	pos++
	// size reads an n-byte big-endian length at pos.
	size := func(n int) (int, error) {
		if pos+n > len(b) {
			return 0, fmt.Errorf("%w: truncated", ErrMalformed)
		}
		var v uint64
		switch n {
		case 1:
			v = uint64(b[pos])
		case 2:
			v = uint64(binary.BigEndian.Uint16(b[pos:]))
		case 4:
			v = uint64(binary.BigEndian.Uint32(b[pos:]))
		}
		pos += n
		if v > uint64(len(b)-pos) {
			return 0, fmt.Errorf("%w: length %d beyond the message", ErrMalformed, v)
		}
		return int(v), nil
	}
	skip := func(n int) (int, error) {
		if n > len(b)-pos {
			return 0, fmt.Errorf("%w: truncated", ErrMalformed)
		}
		return pos + n, nil
	}
	items := func(n int) (int, error) {
		var err error
		for i := 0; i < n; i++ {
			if pos, err = check(b, pos, depth+1); err != nil {
				return 0, err
			}
		}
		return pos, nil
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3: // fixint, nil, bool
		return pos, nil
	case c <= 0x8f: // fixmap
		return items(2 * int(c&0x0f))
	case c <= 0x9f: // fixarray
		return items(int(c & 0x0f))
	case c <= 0xbf: // fixstr
		return skip(int(c & 0x1f))
	}
	switch c {
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb: // bin, str
		n, err := size(lenWidth(c))
		if err != nil {
			return 0, err
		}
		return skip(n)
	case 0xc7, 0xc8, 0xc9: // ext: length, type, data
		n, err := size(lenWidth(c))
		if err != nil {
			return 0, err
		}
		return skip(1 + n)
	case 0xcc, 0xd0:
		return skip(1)
	case 0xcd, 0xd1:
		return skip(2)
	case 0xca, 0xce, 0xd2:
		return skip(4)
	case 0xcb, 0xcf, 0xd3:
		return skip(8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16, after the type byte
		return skip(1 + 1<<(c-0xd4))
	case 0xdc, 0xdd: // array16, array32
		n, err := size(lenWidth(c))
		if err != nil {
			return 0, err
		}
		return items(n)
	case 0xde, 0xdf: // map16, map32
		n, err := size(lenWidth(c))
		if err != nil {
			return 0, err
		}
		if 2*n > len(b)-pos {
			return 0, fmt.Errorf("%w: map of %d beyond the message", ErrMalformed, n)
		}
		return items(2 * n)
	}
	return 0, fmt.Errorf("%w: byte 0x%02x", ErrMalformed, c)
}

// lenWidth is how many bytes the length of a str, bin, ext, array or map header takes.
func lenWidth(c byte) int {
	switch c {
	case 0xc4, 0xc7, 0xd9:
		return 1
	case 0xc5, 0xc8, 0xda, 0xdc, 0xde:
		return 2
	}
	return 4 // 0xc6, 0xc9, 0xdb, 0xdd, 0xdf
}
