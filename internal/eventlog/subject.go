package eventlog

import (
	"errors"
	"strings"
)

// noStreamToken is the subject token of events that belong to no stream.
const noStreamToken = "_"

const hexDigits = "0123456789ABCDEF"

// streamToken encodes a stream name as one NATS subject token, reversibly:
// letters, digits, '-' and '_' stand for themselves, every other byte becomes
// '~' and two hex digits. A leading 's' keeps it apart from noStreamToken.
func streamToken(stream string) string {
	if stream == "" {
		return noStreamToken
	}
	var b strings.Builder
	b.Grow(len(stream) + 1)
	b.WriteByte('s')
	for i := 0; i < len(stream); i++ {
		c := stream[i]
		if isPlain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('~')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

func isPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

var errBadToken = errors.New("eventlog: malformed stream token")

// parseStreamToken reverses streamToken.
func parseStreamToken(tok string) (string, error) {
	if tok == noStreamToken {
		return "", nil
	}
	if len(tok) < 2 || tok[0] != 's' {
		return "", errBadToken
	}
	tok = tok[1:]
	if strings.IndexByte(tok, '~') < 0 {
		return tok, nil
	}
	out := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '~' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", errBadToken
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", errBadToken
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return string(out), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// subjects builds and parses the subjects of one log.
type subjects struct{ prefix string }

func (s subjects) stream(ns, stream string) string {
	return s.prefix + "." + ns + "." + streamToken(stream)
}

func (s subjects) namespace(ns string) string { return s.prefix + "." + ns + ".>" }

func (s subjects) all() string { return s.prefix + ".>" }

// parse splits a subject into namespace and stream.
func (s subjects) parse(subj string) (ns, stream string, err error) {
	rest, ok := strings.CutPrefix(subj, s.prefix+".")
	if !ok {
		return "", "", errBadToken
	}
	ns, tok, ok := strings.Cut(rest, ".")
	if !ok {
		return "", "", errBadToken
	}
	stream, err = parseStreamToken(tok)
	return ns, stream, err
}

// filter is the subject filter selecting a query's records: one stream, one
// namespace, or (Namespace "") the whole log.
func (s subjects) filter(q Query) string {
	switch {
	case q.Namespace == "":
		return s.all()
	case q.Stream != "":
		return s.stream(q.Namespace, q.Stream)
	default:
		return s.namespace(q.Namespace)
	}
}
