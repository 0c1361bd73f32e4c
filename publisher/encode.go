package publisher

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// encode renders v as JSON in ASCII only, with every other character escaped (\u2022 for •).
// go-socket.io frames polling payloads by their length in bytes while socket.io-client 2.x
// reads lengths in characters: one non-ASCII character in an event (a masked number's
// dots, an accented name) would break every polling client. Escaped, the client decodes the
// very same strings.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return asciiJSON(b), nil
}

// eventPacket frames a socket.io EVENT packet of the room namespace, 2/chat,["name",payload],
// once for every client it goes to. Event names are this package's constants, plain ASCII.
func eventPacket(event string, payload []byte) []byte {
	p := make([]byte, 0, len(Namespace)+len(event)+len(payload)+8)
	p = append(p, '2')
	p = append(p, Namespace...)
	p = append(p, `,["`...)
	p = append(p, event...)
	p = append(p, `",`...)
	p = append(p, payload...)
	return append(p, ']')
}

// asciiJSON escapes the non-ASCII characters of valid JSON. Outside strings JSON is ASCII
// already, so escaping every such character is correct wherever it stands.
func asciiJSON(b []byte) []byte {
	if isASCII(b) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		if r >= 0x10000 {
			r1, r2 := surrogates(r)
			out = appendEscape(appendEscape(out, r1), r2)
			continue
		}
		out = appendEscape(out, r)
	}
	return out
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}

func appendEscape(out []byte, r rune) []byte {
	s := strconv.FormatInt(int64(r), 16)
	out = append(out, '\\', 'u')
	for i := len(s); i < 4; i++ {
		out = append(out, '0')
	}
	return append(out, s...)
}

// emit sends one event to one session, in order with its others.
func (s *Server) emit(sess *session, event string, v any) {
	b, err := encode(v)
	if err != nil {
		s.log.Error("encode event", "event", event, "err", err)
		return
	}
	s.sendTo(sess, eventPacket(event, b))
}
