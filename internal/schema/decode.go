package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds how deeply data may nest objects and arrays. Ingest already
// refuses events nesting deeper than 128 levels (internal/event.MaxDepth);
// the bound here keeps the decoder's and the validator's recursion finite
// for any caller.
const maxDepth = 128

// maxExponent bounds the exponent of numbers handed to the jsonschema
// library; float64 itself ends near 1e308.
const maxExponent = 1000

// maxNumberLen bounds the length of a number's text for the same reason:
// big.Rat parses digits in more than linear time.
const maxNumberLen = 400

// hugeNumber is a number whose exponent exceeds maxExponent or whose text
// exceeds maxNumberLen. The library
// sees an unknown type and reports it where it is, without arithmetic.
type hugeNumber string

// MarshalJSON keeps the number as written in canonical documents.
func (n hugeNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

// ErrInvalidJSON is wrapped by the errors of Validate when the data is not
// JSON, and by those of Compile and Canonical when the document is not.
var ErrInvalidJSON = errors.New("invalid JSON")

// syntaxError locates a JSON syntax error by byte offset.
type syntaxError struct {
	offset int
	msg    string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }
func (e *syntaxError) Unwrap() error { return ErrInvalidJSON }

// decodeJSON decodes one JSON text (RFC 8259, strictly) into the values the
// jsonschema library validates: map[string]any, []any, json.Number, string,
// bool and nil. It does what encoding/json with UseNumber does, in one pass
// and without reflection: invalid UTF-8 and lone surrogates in strings become
// U+FFFD, and for a repeated key the last value wins.
//
// It is the ingest hot path's decoder. fastjson was the other candidate; it
// accepts text that is not JSON (NaN, unknown escapes, raw control
// characters) and its tree would still have to be converted into these
// values, a second pass and a second set of allocations.
func decodeJSON(b []byte) (any, error) {
	// One copy of the whole text: strings without escapes and numbers are
	// slices of it, one allocation instead of one per string.
	d := decoder{b: b, s: string(b)}
	d.ws()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i < len(d.b) {
		return nil, d.errorf("unexpected %s after the JSON value", d.quoteAt())
	}
	return v, nil
}

type decoder struct {
	b   []byte
	s   string // the same bytes as b
	i   int
	buf []byte // scratch for strings with escapes
}

func (d *decoder) errorf(format string, args ...any) error {
	return &syntaxError{offset: d.i, msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) quoteAt() string {
	if d.i >= len(d.b) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(d.b[d.i:])
	return strconv.QuoteRune(r)
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, error) {
	if d.i >= len(d.b) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, d.errorf("nesting deeper than %d levels", maxDepth)
		}
		return d.object(depth + 1)
	case c == '[':
		if depth >= maxDepth {
			return nil, d.errorf("nesting deeper than %d levels", maxDepth)
		}
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, d.errorf("unexpected %s, expected a JSON value", d.quoteAt())
}

func (d *decoder) literal(lit string) error {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return nil
	}
	return d.errorf("invalid literal, expected %s", lit)
}

func (d *decoder) object(depth int) (any, error) {
	d.i++ // {
	m := make(map[string]any)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.errorf("unexpected %s, expected a string key", d.quoteAt())
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.errorf("unexpected %s, expected ':'", d.quoteAt())
		}
		d.i++
		d.ws()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.ws()
		if d.i >= len(d.b) {
			return nil, d.errorf("unexpected end of input in an object")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.ws()
		case '}':
			d.i++
			return m, nil
		default:
			return nil, d.errorf("unexpected %s, expected ',' or '}'", d.quoteAt())
		}
	}
}

func (d *decoder) array(depth int) (any, error) {
	d.i++ // [
	a := make([]any, 0, 4)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.ws()
		if d.i >= len(d.b) {
			return nil, d.errorf("unexpected end of input in an array")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.ws()
		case ']':
			d.i++
			return a, nil
		default:
			return nil, d.errorf("unexpected %s, expected ',' or ']'", d.quoteAt())
		}
	}
}

// str decodes a string starting at its opening quote. Plain ASCII without
// escapes, the common case, costs one scan and one allocation.
func (d *decoder) str() (string, error) {
	d.i++ // "
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			return s, nil
		case c == '\\' || c >= utf8.RuneSelf:
			return d.strSlow(start)
		case c < 0x20:
			return "", d.errorf("control character %#02x in a string; escape it", c)
		}
		d.i++
	}
	return "", d.errorf("unterminated string")
}

func (d *decoder) strSlow(start int) (string, error) {
	buf := append(d.buf[:0], d.b[start:d.i]...)
	defer func() { d.buf = buf[:0] }()
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), nil
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return "", d.errorf("unterminated string")
			}
			e := d.b[d.i+1]
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := d.hex4(d.i + 2)
				if !ok {
					return "", d.errorf("invalid \\u escape")
				}
				d.i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						r2, ok = d.hex4(d.i + 2)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						d.i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return "", d.errorf("invalid escape '\\%c' in a string", e)
			}
			d.i += 2
		case c < 0x20:
			return "", d.errorf("control character %#02x in a string; escape it", c)
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, d.b[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
	return "", d.errorf("unterminated string")
}

func (d *decoder) hex4(at int) (rune, bool) {
	if at+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number checks the RFC 8259 grammar and keeps the text exactly, as the
// library's own decoder (json.Number) does, so bounds and multipleOf compare
// the number that was sent.
func (d *decoder) number() (any, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return nil, d.errorf("invalid number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return nil, d.errorf("invalid number: digits expected after '.'")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		expStart := d.i
		if d.digits() == 0 {
			return nil, d.errorf("invalid number: digits expected in the exponent")
		}
		if exp, err := strconv.Atoi(d.s[expStart:d.i]); err != nil || exp > maxExponent {
			// The library compares numbers as big.Rat, which for 1e999999999
			// means computing 10^999999999: never hand it such a number.
			return hugeNumber(d.s[start:d.i]), nil
		}
	}
	if d.i-start > maxNumberLen {
		return hugeNumber(d.s[start:d.i]), nil
	}
	return json.Number(d.s[start:d.i]), nil
}

func (d *decoder) digits() int {
	n := 0
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}
