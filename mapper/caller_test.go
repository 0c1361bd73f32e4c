package mapper

import (
	"strings"
	"testing"
)

var modes = []CallerIDMode{CallerIDMasked, CallerIDFull, CallerIDHidden}

// TestDisplayName: how a caller who is not in the directory is named, per DIALIN_CALLER_ID.
func TestDisplayName(t *testing.T) {
	tests := []struct {
		name             string
		from, callerName string
		mode             CallerIDMode
		want             string
	}{
		{"masked US", "+14155550123", "", CallerIDMasked, "+1 ••• 0123"},
		{"masked UK", "+442071838750", "", CallerIDMasked, "+44 ••• 8750"},
		{"masked DE", "+4930123456789", "", CallerIDMasked, "+49 ••• 6789"},
		{"unknown mode masks", "+14155550123", "", CallerIDMode("bogus"), "+1 ••• 0123"},
		{"full US", "+14155550123", "", CallerIDFull, "+1 415-555-0123"},
		{"full UK", "+442071838750", "", CallerIDFull, "+44 20 7183 8750"},
		{"full DE", "+4930123456789", "", CallerIDFull, "+49 30 123456789"},
		{"hidden US", "+14155550123", "", CallerIDHidden, HiddenName},
		{"hidden DE", "+4930123456789", "", CallerIDHidden, HiddenName},
		{"surrounding space is trimmed", " +14155550123 ", "", CallerIDMasked, "+1 ••• 0123"},

		{"caller name preferred, masked", "+14155550123", "DOE JANE", CallerIDMasked, "DOE JANE"},
		{"caller name preferred, full", "+14155550123", "DOE JANE", CallerIDFull, "DOE JANE"},
		{"caller name preferred, hidden", "+14155550123", "DOE JANE", CallerIDHidden, "DOE JANE"},
		{"caller name trimmed", "+14155550123", "  DOE JANE ", CallerIDMasked, "DOE JANE"},
		{"blank caller name", "+14155550123", "   ", CallerIDMasked, "+1 ••• 0123"},
		{"caller name with few digits", "+14155550123", "ACME 24", CallerIDHidden, "ACME 24"},
		{"caller name that is the number", "+14155550123", "(415) 555-0123", CallerIDMasked, "+1 ••• 0123"},
		{"caller name that is the number, hidden", "+14155550123", "+14155550123", CallerIDHidden, HiddenName},
		{"caller name that is another number", "+14155550123", "5551234", CallerIDHidden, HiddenName},
		{"caller name 'anonymous'", "+14155550123", "Anonymous", CallerIDMasked, "+1 ••• 0123"},
		{"caller name 'unknown'", "+14155550123", "UNKNOWN", CallerIDFull, "+1 415-555-0123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DisplayName(tc.from, tc.callerName, tc.mode); got != tc.want {
				t.Errorf("DisplayName(%q, %q, %s) = %q; want %q", tc.from, tc.callerName, tc.mode, got, tc.want)
			}
		})
	}
}

// TestCallerNamePlaceholders: what carriers put in the caller-name field when they have no
// name counts as no name, in any case and spelling of it; the number is shown instead.
func TestCallerNamePlaceholders(t *testing.T) {
	tests := []struct {
		callerName  string
		placeholder bool
	}{
		{"WIRELESS CALLER", true},
		{"Wireless Caller", true},
		{"wireless  caller", true},
		{"UNAVAILABLE", true},
		{"unavailable", true},
		{"UNKNOWN", true},
		{"UNKNOWN NAME", true},
		{"TOLL FREE CALL", true},
		{"Toll-Free Call", true},
		{"PRIVATE", true},
		{"PRIVATE CALLER", true},
		{"RESTRICTED", true},
		{"ANONYMOUS", true},
		{"OUT OF AREA", true},
		{"NOT AVAILABLE", true},
		{"CELL PHONE", true},
		{"BLOCKED", true},
		{"NO CALLER ID", true},
		{"4155550123", true},
		{"+1 415 555 0123", true},
		{"800", true},
		{"(800) 555", true},
		{"--", true},
		{"DOE JANE", false},
		{"SMITH JOHN", false},
		{"ACME 24", false},
		{"O'BRIEN PAT", false},
		{"UNKNOWN PLEASURES LTD", false},
		{"José Núñez", false},
	}
	for _, tc := range tests {
		t.Run(tc.callerName, func(t *testing.T) {
			want := tc.callerName
			if tc.placeholder {
				want = "+1 ••• 0123"
			}
			if got := DisplayName("+14155550123", tc.callerName, CallerIDMasked); got != want {
				t.Errorf("DisplayName with CallerName %q = %q; want %q", tc.callerName, got, want)
			}
		})
	}
}

// TestWithheld: a withheld or non-E.164 number is "Anonymous caller" in every mode.
func TestWithheld(t *testing.T) {
	for _, from := range []string{
		"anonymous", "Anonymous", "ANONYMOUS", "restricted", "Restricted", "unknown", "private",
		"+266696687", "", "  ", "12345", "4155550123", "+1 415 555 0123", "+1-415-555-0123",
		"sip:alice@example.com", "client:alice", "+", "+0", "+123", "+1234567890123456789",
	} {
		for _, mode := range modes {
			for _, callerName := range []string{"", "DOE JANE"} {
				if got := DisplayName(from, callerName, mode); got != AnonymousName {
					t.Errorf("DisplayName(%q, %q, %s) = %q; want %q", from, callerName, mode, got, AnonymousName)
				}
			}
		}
		if IsE164(from) {
			t.Errorf("IsE164(%q) = true", from)
		}
	}
	if AnonymousName != "Anonymous caller" {
		t.Errorf("AnonymousName = %q; the contract says \"Anonymous caller\"", AnonymousName)
	}
}

// TestMask: a masked number keeps its country code and last four digits, never the whole
// national number, whatever the country.
func TestMask(t *testing.T) {
	tests := []struct {
		number, cc, national, want string
	}{
		{"+14155550123", "1", "4155550123", "+1 ••• 0123"},      // US
		{"+442071838750", "44", "2071838750", "+44 ••• 8750"},   // UK
		{"+4930123456789", "49", "30123456789", "+49 ••• 6789"}, // DE
		{"+33612345678", "33", "612345678", "+33 ••• 5678"},     // FR
		{"+390612345678", "39", "0612345678", "+39 ••• 5678"},   // IT, leading zero
		{"+81312345678", "81", "312345678", "+81 ••• 5678"},     // JP
		{"+35312345678", "353", "12345678", "+353 ••• 5678"},    // IE
		// Niue's numbers have four digits: the last four would be all of it.
		{"+6834002", "683", "4002", "+683 ••• 02"},
	}
	for _, tc := range tests {
		t.Run(tc.number, func(t *testing.T) {
			m := Mask(tc.number)
			if m != tc.want {
				t.Errorf("Mask(%s) = %q; want %q", tc.number, m, tc.want)
			}
			if !strings.HasPrefix(m, "+"+tc.cc+" ") {
				t.Errorf("Mask(%s) = %q: lost the country code %s", tc.number, m, tc.cc)
			}
			d := digits(m)
			if strings.Contains(d, tc.national) || strings.Contains(d, digits(tc.number)) {
				t.Errorf("Mask(%s) = %q shows the whole number", tc.number, m)
			}
			keep := 4
			if len(tc.national) <= 4 {
				keep = len(tc.national) / 2
			}
			if last := tc.national[len(tc.national)-keep:]; !strings.HasSuffix(m, " "+last) {
				t.Errorf("Mask(%s) = %q; want it to end in %s", tc.number, m, last)
			}
			if got := DisplayName(tc.number, "", CallerIDMasked); got != m {
				t.Errorf("masked DisplayName(%s) = %q; want Mask's %q", tc.number, got, m)
			}
		})
	}
	for in, want := range map[string]string{"": "", "  ": "", "anonymous": "•••", "+266696687": "•••", "4155550123": "•••"} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestCallerIDMode: the three modes of DIALIN_CALLER_ID, and nothing else, are valid.
func TestCallerIDMode(t *testing.T) {
	for _, m := range modes {
		if !m.Valid() {
			t.Errorf("%q not valid", m)
		}
	}
	for _, m := range []CallerIDMode{"", "Masked", "none", "partial"} {
		if m.Valid() {
			t.Errorf("%q valid", m)
		}
	}
}

// FuzzDisplayName: no input panics; a number that is not E.164 is always AnonymousName; the
// name is never empty; and in masked or hidden mode no run of seven or more of the caller's
// digits survives into the name, in any formatting.
func FuzzDisplayName(f *testing.F) {
	for _, s := range []string{
		"+14155550123", "+442071838750", "+4930123456789", "+6834002", "+3511234", "+2904567",
		"anonymous", "Anonymous", "restricted", "unknown", "+266696687", "", "12345",
		"+1 (415) 555-0123", "+999999999999999999", "sip:alice@example.com", "+",
	} {
		f.Add(s, "")
		f.Add(s, "DOE JANE")
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, from, callerName string) {
		masked := Mask(from)
		for _, mode := range modes {
			name := DisplayName(from, callerName, mode)
			if display, m := Caller(from, callerName, mode); display != name || m != masked {
				t.Errorf("Caller(%q, %q, %s) = %q, %q; want DisplayName %q and Mask %q", from, callerName, mode, display, m, name, masked)
			}
			if name == "" {
				t.Errorf("DisplayName(%q, %q, %s) is empty", from, callerName, mode)
			}
			if !IsE164(from) && name != AnonymousName {
				t.Errorf("DisplayName(%q, %q, %s) = %q for a number that is not E.164", from, callerName, mode, name)
			}
			if mode == CallerIDFull {
				continue
			}
			shown := digits(name)
			for _, run := range append(digitRuns(from), digits(from)) {
				if len(run) >= 7 && strings.Contains(shown, run) {
					t.Errorf("DisplayName(%q, %q, %s) = %q shows the number's digits %s", from, callerName, mode, name, run)
				}
			}
		}
	})
}

// digits returns the ASCII digits of s, in order.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// digitRuns returns the maximal runs of ASCII digits in s.
func digitRuns(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}
