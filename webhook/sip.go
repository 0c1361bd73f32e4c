package webhook

import (
	"net/url"
	"strings"

	"github.com/dialin-bridge/dialin-bridge/mapper"
)

// sipTopicHeader is the parameter in which Twilio passes a SIP call's X-Topic-Id header. SIP
// header names are case-insensitive, and Twilio keeps the case the caller's PBX used.
const sipTopicHeader = "SipHeader_X-Topic-Id"

// sipHeader returns the value of the SIP header parameter name in any case of its name. When
// the header comes in several cases, the exact one wins, else the first name in byte order,
// so that the answer does not depend on map order.
func sipHeader(form url.Values, name string) string {
	if v := strings.TrimSpace(form.Get(name)); v != "" {
		return v
	}
	var key string
	for k := range form {
		if strings.EqualFold(k, name) && form.Get(k) != "" && (key == "" || k < key) {
			key = k
		}
	}
	return strings.TrimSpace(form.Get(key))
}

// sipUser returns the user part of a SIP URI ("sip:user@host;params", "sips:…", possibly in
// angle brackets), percent-decoded, and false when s is not a SIP URI with a user part.
func sipUser(s string) (string, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "<"), ">")
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !(strings.EqualFold(scheme, "sip") || strings.EqualFold(scheme, "sips")) {
		return "", false
	}
	user, _, ok := strings.Cut(rest, "@")
	if !ok {
		return "", false
	}
	user, _, _ = strings.Cut(user, ";") // user parameters (";isub=…")
	if u, err := url.PathUnescape(user); err == nil {
		user = u
	}
	return user, user != ""
}

// sipNumber returns the E.164 number a SIP URI's user part carries; s itself when s is not a
// SIP URI, or when its user part is not an E.164 number.
func sipNumber(s string) string {
	if user, ok := sipUser(s); ok && mapper.IsE164(user) {
		return user
	}
	return s
}
