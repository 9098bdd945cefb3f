package webhook

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBody bounds a Response's encoded body: the output is recorded in the log
// with the run, and one chatty endpoint must not bloat every replay.
const MaxBody = 64 << 10

// Response is an HTTP action's output, as the flow sees it:
// {"status", "headers", "body"}.
type Response struct {
	Status int `json:"status"`
	// Headers has lower-case names (as HTTP/2 spells them, so expressions
	// need not guess the case); repeated headers are joined with ", ".
	Headers map[string]string `json:"headers"`
	// Body is the response body when it is JSON, else its text as a JSON
	// string (invalid UTF-8 replaced by U+FFFD). Empty bodies are omitted.
	Body json.RawMessage `json:"body,omitempty"`
	// Truncated says the body was longer than MaxBody encoded, so Body is a
	// JSON string holding its beginning.
	Truncated bool `json:"truncated,omitempty"`
}

// newResponse turns a status, headers and up to MaxBody+1 bytes of body
// (more means the body was longer) into a Response.
func newResponse(status int, h http.Header, raw []byte) *Response {
	r := &Response{Status: status, Headers: make(map[string]string, len(h))}
	for name, values := range h {
		r.Headers[strings.ToLower(name)] = strings.Join(values, ", ")
	}
	if len(raw) == 0 {
		return r
	}
	if len(raw) <= MaxBody && json.Valid(raw) {
		r.Body = json.RawMessage(raw)
		return r
	}
	r.Body, r.Truncated = jsonStringPrefix(raw, MaxBody)
	r.Truncated = r.Truncated || len(raw) > MaxBody
	return r
}

// jsonStringPrefix encodes the longest prefix of text (cut between runes)
// whose JSON string encoding, quotes included, fits in limit bytes, and
// says whether it had to cut. It escapes as encoding/json does, but counts
// as it goes: escaping can make text up to six times longer.
func jsonStringPrefix(text []byte, limit int) (json.RawMessage, bool) {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, min(limit, len(text)+2))
	out = append(out, '"')
	var buf [12]byte
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		var enc []byte
		switch {
		case r == '"' || r == '\\':
			enc = append(buf[:0], '\\', byte(r))
		case r == '\n':
			enc = append(buf[:0], '\\', 'n')
		case r == '\r':
			enc = append(buf[:0], '\\', 'r')
		case r == '\t':
			enc = append(buf[:0], '\\', 't')
		case r < 0x20:
			enc = append(buf[:0], '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		case r == utf8.RuneError && size == 1:
			enc = append(buf[:0], `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript in older engines.
			enc = append(buf[:0], `\u`...)
			enc = strconv.AppendInt(enc, int64(r), 16)
		default:
			enc = text[i : i+size]
		}
		if len(out)+len(enc)+1 > limit {
			return append(out, '"'), true
		}
		out = append(out, enc...)
		i += size
	}
	return append(out, '"'), false
}
