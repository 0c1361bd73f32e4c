package mapper

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// CallerIDMode says how a caller who is not in the directory is named.
type CallerIDMode string

// The DIALIN_CALLER_ID modes.
const (
	CallerIDMasked CallerIDMode = "masked" // country code and last 4 digits
	CallerIDFull   CallerIDMode = "full"   // the whole number, internationally formatted
	CallerIDHidden CallerIDMode = "hidden" // no digits at all
)

// Valid reports whether m is one of the known modes.
func (m CallerIDMode) Valid() bool {
	switch m {
	case CallerIDMasked, CallerIDFull, CallerIDHidden:
		return true
	}
	return false
}

// Names shown for callers whose number cannot or may not be shown.
const (
	AnonymousName = "Anonymous caller"
	HiddenName    = "Phone caller"
)

// withheld are the From values Twilio sends for a number the caller withheld.
var withheld = map[string]bool{
	"anonymous":  true,
	"restricted": true,
	"unknown":    true,
	"private":    true,
	"+266696687": true, // "ANONYMOUS" on a keypad
	"":           true,
}

// ParseNumber returns the number as a parsed E.164 phone number, or false when the caller
// withheld it or sent something that is not an E.164 number.
func ParseNumber(from string) (*phonenumbers.PhoneNumber, bool) {
	from = strings.TrimSpace(from)
	if withheld[strings.ToLower(from)] || !strings.HasPrefix(from, "+") {
		return nil, false
	}
	for _, r := range from[1:] {
		if r < '0' || r > '9' {
			return nil, false
		}
	}
	if len(from) < 8 || len(from) > 16 { // E.164: at most 15 digits
		return nil, false
	}
	num, err := phonenumbers.Parse(from, "")
	if err != nil || num.GetCountryCode() == 0 {
		return nil, false
	}
	return num, true
}

// IsE164 reports whether s is a plausible E.164 number.
func IsE164(s string) bool {
	_, ok := ParseNumber(s)
	return ok
}

// DisplayName names a caller who is not in the directory: the caller name Twilio looked up
// when there is one, else the number as mode says. A withheld number is AnonymousName.
func DisplayName(from, callerName string, mode CallerIDMode) string {
	display, _ := Caller(from, callerName, mode)
	return display
}

// Caller returns both how a caller outside the directory is shown (DisplayName) and its
// masked number (Mask), parsing the number once.
func Caller(from, callerName string, mode CallerIDMode) (display, masked string) {
	num, ok := ParseNumber(from)
	if !ok {
		return AnonymousName, maskInvalid(from)
	}
	masked = mask(num)
	if name := strings.TrimSpace(callerName); !noCallerName(name) {
		return name, masked
	}
	switch mode {
	case CallerIDFull:
		return phonenumbers.Format(num, phonenumbers.INTERNATIONAL), masked
	case CallerIDHidden:
		return HiddenName, masked
	default:
		return masked, masked
	}
}

// placeholders are what carriers put in the caller-name (CNAM) field when they have no name
// for the number, in the form placeholderKey gives them.
var placeholders = map[string]bool{
	"WIRELESS CALLER": true, "WIRELESS": true, "CELL PHONE": true, "CELLULAR CALLER": true,
	"MOBILE CALLER": true, "UNAVAILABLE": true, "NOT AVAILABLE": true, "NAME UNAVAILABLE": true,
	"NAME NOT AVAILABLE": true, "UNAVAILABLE NAME": true, "UNKNOWN": true, "UNKNOWN CALLER": true,
	"UNKNOWN NAME": true, "TOLL FREE CALL": true, "TOLL FREE": true, "TOLLFREE": true,
	"TOLL FREE NUMBER": true, "PRIVATE": true, "PRIVATE CALLER": true, "PRIVATE NUMBER": true,
	"PRIVATE NAME": true, "RESTRICTED": true, "ANONYMOUS": true, "BLOCKED": true,
	"NO CALLER ID": true, "CALLER ID UNAVAILABLE": true, "OUT OF AREA": true, "PAY PHONE": true,
	"PAYPHONE": true, "CALLER": true, "NA": true, "N A": true,
}

// placeholderKey is a caller name in capitals, with every run of what is not a letter or a
// digit made one space: "Toll-Free Call" and "TOLL FREE CALL" are the same placeholder.
func placeholderKey(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToUpper(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
			space = false
		} else {
			space = true
		}
	}
	return b.String()
}

// noCallerName reports whether a CallerName is no name at all: empty, a carrier's
// placeholder ("WIRELESS CALLER", "UNAVAILABLE", "TOLL FREE CALL", …, in any case), a
// withheld-number marker, or a number (no letters, or a phone number in any format).
func noCallerName(name string) bool {
	key := placeholderKey(name)
	if key == "" || placeholders[key] || withheld[strings.ToLower(key)] || looksLikeNumber(name) {
		return true
	}
	return !strings.ContainsFunc(key, unicode.IsLetter)
}

// looksLikeNumber reports whether a caller name carries a phone number in any format (seven
// digits or more), which must not be shown in place of the masked number.
func looksLikeNumber(s string) bool {
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return digits >= 7
}

// Mask renders a number with only its country code and last four digits, as in
// "+1 ••• 0100" (fewer when the national number has four digits or fewer, so that it is never
// shown whole). Anything that is not an E.164 number is fully masked. Mask is the form in
// which numbers may appear in logs.
func Mask(number string) string {
	num, ok := ParseNumber(number)
	if !ok {
		return maskInvalid(number)
	}
	return mask(num)
}

// maskInvalid is Mask of something that is not an E.164 number.
func maskInvalid(number string) string {
	if strings.TrimSpace(number) == "" {
		return ""
	}
	return "•••"
}

func mask(num *phonenumbers.PhoneNumber) string {
	national := phonenumbers.GetNationalSignificantNumber(num)
	keep := 4
	if len(national) <= keep {
		// Some numbers are that short (Niue, +683, has four digits): their last four digits
		// are the whole number. Show at most half of them.
		keep = len(national) / 2
	}
	last := national[len(national)-keep:]
	return "+" + strconv.Itoa(int(num.GetCountryCode())) + " ••• " + last
}
