package sio

import (
	"strconv"
	"unicode/utf8"
)

// ASCIIJSON escapes the non-ASCII characters of valid JSON (\u2022 for •). Outside strings
// JSON is ASCII already, so escaping every such character is correct wherever it stands, and
// the client decodes the very same strings. Polling payloads need it: go-socket.io frames
// them by their length in bytes, socket.io-client 2.x by their length in characters.
func ASCIIJSON(b []byte) []byte {
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

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
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
