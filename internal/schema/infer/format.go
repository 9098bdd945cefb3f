package infer

import (
	"net/url"
	"strings"
	"time"
)

// formatSet is a set of string formats, one bit each.
type formatSet uint8

const (
	formatUUID formatSet = 1 << iota
	formatDateTime
	formatDate
	formatEmail
	formatURI

	allFormats = formatUUID | formatDateTime | formatDate | formatEmail | formatURI
)

// formatOrder lists the formats most specific first, with their names in
// JSON Schema. The checks are stricter than the standard's (no leap seconds,
// no quoted e-mail local parts, no IP literals in hosts), so a string they
// accept is accepted by every validator that asserts formats.
var formatOrder = []struct {
	f     formatSet
	name  string
	check func(string) bool
}{
	{formatUUID, "uuid", isUUID},
	{formatDateTime, "date-time", isDateTime},
	{formatDate, "date", isDate},
	{formatEmail, "email", isEmail},
	{formatURI, "uri", isURI},
}

// matching returns the formats of fs that s matches.
func (fs formatSet) matching(s string) formatSet {
	for _, f := range formatOrder {
		if fs&f.f != 0 && !f.check(s) {
			fs &^= f.f
		}
	}
	return fs
}

// name returns the name of the most specific format in fs, or "".
func (fs formatSet) name() string {
	for _, f := range formatOrder {
		if fs&f.f != 0 {
			return f.name
		}
	}
	return ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isUUID matches RFC 9562's text form, 8-4-4-4-12 hex digits, in either case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// isDate matches RFC 3339's full-date, YYYY-MM-DD, a day that exists.
func isDate(s string) bool {
	if len(s) != 10 {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// isDateTime matches RFC 3339's date-time: a full-date, T, hh:mm:ss, an
// optional fraction, and Z or a ±hh:mm offset.
func isDateTime(s string) bool {
	if len(s) < len("2006-01-02T15:04:05Z") || !isDate(s[:10]) || (s[10] != 'T' && s[10] != 't') {
		return false
	}
	rest, ok := twoDigits(s[11:], 23)
	if ok {
		rest, ok = colonTwoDigits(rest, 59)
	}
	if ok {
		// 60 would be a leap second, valid only at 23:59 UTC; not worth
		// the arithmetic for a first schema.
		rest, ok = colonTwoDigits(rest, 59)
	}
	if !ok {
		return false
	}
	if frac, found := strings.CutPrefix(rest, "."); found {
		i := 0
		for i < len(frac) && isDigit(frac[i]) {
			i++
		}
		if i == 0 {
			return false
		}
		rest = frac[i:]
	}
	switch {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-'):
		rest, ok = twoDigits(rest[1:], 23)
		if ok {
			rest, ok = colonTwoDigits(rest, 59)
		}
		return ok && rest == ""
	}
	return false
}

// twoDigits reads two digits at the start of s, at most max.
func twoDigits(s string, max int) (rest string, ok bool) {
	if len(s) < 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return s, false
	}
	return s[2:], int(s[0]-'0')*10+int(s[1]-'0') <= max
}

// colonTwoDigits reads ":" and two digits at the start of s, at most max.
func colonTwoDigits(s string, max int) (rest string, ok bool) {
	if len(s) < 3 || s[0] != ':' {
		return s, false
	}
	return twoDigits(s[1:], max)
}

// isEmail matches the addresses people use: a dot-atom local part, "@", and
// a domain name of at least two labels whose last one is not all digits.
func isEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || len(local) == 0 || len(local) > 64 || !isDotAtom(local) {
		return false
	}
	return isDomainName(domain)
}

func isDotAtom(s string) bool {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}

// isDomainName matches a DNS name of two labels or more (letters, digits and
// inner hyphens) whose top label has a letter, so IP addresses do not match.
func isDomainName(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '-') {
				return false
			}
		}
	}
	top := labels[len(labels)-1]
	return strings.IndexFunc(top, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

// isURI matches an absolute URI with a scheme and a host, such as
// https://example.com/path, written without spaces or control characters.
// Hosts that are IPv6 literals are left out: validators disagree on them.
func isURI(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return false
	}
	host := u.Hostname()
	return host != "" && !strings.ContainsAny(host, ":[]")
}
