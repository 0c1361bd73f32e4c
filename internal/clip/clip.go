// Package clip keeps untrusted text that is echoed or logged short and printable.
package clip

import "strings"

// String cuts s to at most n bytes and replaces what is not valid UTF-8 (a rune cut in
// two included) with "?". Log handlers quote and escape what they print; this only bounds
// it.
func String(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}
