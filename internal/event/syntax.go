package event

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Every body is checked here against RFC 8259, plus I-JSON's ban on unpaired
// surrogates so that every string decodes to valid Unicode, with a depth
// limit and errors that carry a byte offset. The same pass records where the
// members of the event objects are, which is all the structure an envelope
// needs: attribute values are decoded from those spans, and data is copied
// from its span as checked text, never built into a tree.

// MaxDepth is how deeply an event may nest JSON, counting the event object
// itself: its data may nest MaxDepth-1 levels. The checker recurses once per
// level, so this also bounds its stack.
const MaxDepth = 128

// syntaxError is a JSON syntax problem at a byte offset of the checked text.
type syntaxError struct {
	Offset int
	Msg    string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset)
}

// checkJSON reports the first RFC 8259 violation in b, or nil when b is one
// valid JSON text nesting at most maxDepth objects and arrays. b must be valid
// UTF-8 (checked before, once per body).
func checkJSON(b []byte, maxDepth int) *syntaxError {
	c := checker{b: b, maxDepth: maxDepth}
	return c.run()
}

// compactJSON checks the JSON text b like checkJSON and appends it to dst
// without insignificant whitespace, returning the compact text. When b has
// none, that text is b itself and nothing is appended.
func compactJSON(dst, b []byte, maxDepth int) (newDst, compact []byte, err *syntaxError) {
	c := checker{b: b, maxDepth: maxDepth}
	if err := c.run(); err != nil {
		return dst, nil, err
	}
	if c.spaces == 0 {
		return dst, b, nil
	}
	start := len(dst)
	dst = appendCompact(dst, b)
	return dst, dst[start:], nil
}

// span is the byte range [start, end) of a checked body.
type span struct{ start, end int }

// member is one member of a recorded object.
type member struct {
	key      span // between the quotes, as written (escapes and all)
	val      span // the JSON value
	elem     int  // the index of the root array element it is in
	compact  bool // val holds no insignificant whitespace
	plainKey bool // key has no escapes
	plainVal bool // val has no string escapes
}

// checker checks one JSON text. With recDepth > 0 it also records the members
// of every object at that depth (1: the root object, 2: the objects in a root
// array) and the elements of a root array.
type checker struct {
	b        []byte
	maxDepth int

	recDepth int
	members  []member
	elems    []span
	elem     int
	spaces   int // insignificant whitespace bytes seen so far
	escapes  int // string escapes seen so far
}

func (c *checker) run() *syntaxError {
	i := c.ws(0)
	if i == len(c.b) {
		return &syntaxError{Offset: i, Msg: "the JSON text is empty"}
	}
	i, err := c.value(i, 0)
	if err != nil {
		return err
	}
	i = c.ws(i)
	if i < len(c.b) {
		return c.fail(i, "unexpected %s after the end of the JSON value", c.describe(i))
	}
	return nil
}

func (c *checker) fail(i int, format string, args ...any) *syntaxError {
	return &syntaxError{Offset: i, Msg: fmt.Sprintf(format, args...)}
}

// describe names the byte at i for an error message.
func (c *checker) describe(i int) string {
	if i >= len(c.b) {
		return "end of input"
	}
	ch := c.b[i]
	if ch >= 0x20 && ch < 0x7f {
		return fmt.Sprintf("character %q", rune(ch))
	}
	if ch >= utf8.RuneSelf {
		r, _ := utf8.DecodeRune(c.b[i:])
		return fmt.Sprintf("character %q", r)
	}
	return fmt.Sprintf("byte 0x%02x", ch)
}

func (c *checker) ws(i int) int {
	start := i
	for i < len(c.b) {
		switch c.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	c.spaces += i - start
	return i
}

// value checks the value starting at i (not whitespace) at nesting depth
// depth, and returns the offset just past it.
func (c *checker) value(i, depth int) (int, *syntaxError) {
	if i >= len(c.b) {
		return i, c.fail(i, "unexpected end of input, expecting a JSON value")
	}
	switch ch := c.b[i]; {
	case ch == '{' || ch == '[':
		if depth >= c.maxDepth {
			return i, c.fail(i, "JSON nests more than %d objects and arrays deep", c.maxDepth)
		}
		if ch == '{' {
			return c.object(i+1, depth+1)
		}
		return c.array(i+1, depth+1)
	case ch == '"':
		return c.str(i + 1)
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number(i)
	case ch == 't':
		return c.literal(i, "true")
	case ch == 'f':
		return c.literal(i, "false")
	case ch == 'n':
		return c.literal(i, "null")
	default:
		return i, c.fail(i, "unexpected %s, expecting a JSON value", c.describe(i))
	}
}

func (c *checker) literal(i int, lit string) (int, *syntaxError) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(c.b) || c.b[i+k] != lit[k] {
			return i + k, c.fail(i+k, "unexpected %s in literal %s", c.describe(i+k), lit)
		}
	}
	return i + len(lit), nil
}

func (c *checker) object(i, depth int) (int, *syntaxError) {
	i = c.ws(i)
	if i < len(c.b) && c.b[i] == '}' {
		return i + 1, nil
	}
	record := depth == c.recDepth
	for {
		if i >= len(c.b) || c.b[i] != '"' {
			return i, c.fail(i, "unexpected %s, expecting a string as object member name", c.describe(i))
		}
		var m member
		m.key.start = i + 1
		escapes := c.escapes
		var err *syntaxError
		if i, err = c.str(i + 1); err != nil {
			return i, err
		}
		m.key.end, m.plainKey = i-1, c.escapes == escapes
		i = c.ws(i)
		if i >= len(c.b) || c.b[i] != ':' {
			return i, c.fail(i, "unexpected %s, expecting ':' after object member name", c.describe(i))
		}
		i = c.ws(i + 1)
		m.val.start = i
		spaces, escapes := c.spaces, c.escapes
		if i, err = c.value(i, depth); err != nil {
			return i, err
		}
		if record {
			m.val.end, m.elem = i, c.elem
			m.compact, m.plainVal = c.spaces == spaces, c.escapes == escapes
			c.members = append(c.members, m)
		}
		i = c.ws(i)
		if i >= len(c.b) {
			return i, c.fail(i, "unexpected end of input, expecting ',' or '}' after object member")
		}
		switch c.b[i] {
		case ',':
			i = c.ws(i + 1)
		case '}':
			return i + 1, nil
		default:
			return i, c.fail(i, "unexpected %s, expecting ',' or '}' after object member", c.describe(i))
		}
	}
}

func (c *checker) array(i, depth int) (int, *syntaxError) {
	i = c.ws(i)
	if i < len(c.b) && c.b[i] == ']' {
		return i + 1, nil
	}
	record := depth == 1 && c.recDepth > 0
	for {
		start := i
		if record {
			c.elem = len(c.elems)
		}
		var err *syntaxError
		if i, err = c.value(i, depth); err != nil {
			return i, err
		}
		if record {
			c.elems = append(c.elems, span{start, i})
		}
		i = c.ws(i)
		if i >= len(c.b) {
			return i, c.fail(i, "unexpected end of input, expecting ',' or ']' after array element")
		}
		switch c.b[i] {
		case ',':
			i = c.ws(i + 1)
		case ']':
			return i + 1, nil
		default:
			return i, c.fail(i, "unexpected %s, expecting ',' or ']' after array element", c.describe(i))
		}
	}
}

// plainStringByte marks the bytes that may appear unescaped in a JSON string
// and need no further look: everything but control characters, '"' and '\'.
var plainStringByte = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return t
}()

// str checks the rest of a string whose opening quote is just before i.
func (c *checker) str(i int) (int, *syntaxError) {
	b := c.b
	for {
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, c.fail(i, "unexpected end of input in a string, expecting '\"'")
		}
		switch ch := b[i]; {
		case ch == '"':
			return i + 1, nil
		case ch == '\\':
			var err *syntaxError
			if i, err = c.escape(i); err != nil {
				return i, err
			}
		default:
			return i, c.fail(i, "control character 0x%02x in a string; escape it, e.g. as \\u%04x", ch, ch)
		}
	}
}

// escape checks the escape sequence whose backslash is at i.
func (c *checker) escape(i int) (int, *syntaxError) {
	c.escapes++
	if i+1 >= len(c.b) {
		return i + 1, c.fail(i+1, "unexpected end of input in a string escape")
	}
	switch c.b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2, nil
	case 'u':
	default:
		return i + 1, c.fail(i+1, "invalid escape \\%s in a string; valid ones are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX", c.esc(i+1))
	}
	r, ok := hex4(c.b, i+2)
	if !ok {
		return i, c.fail(i, "invalid \\u escape in a string: \\u must be followed by 4 hex digits")
	}
	switch {
	case r >= 0xdc00 && r <= 0xdfff:
		return i, c.fail(i, "unpaired UTF-16 surrogate \\u%04x in a string: JSON text must encode valid Unicode", r)
	case r >= 0xd800 && r <= 0xdbff:
		j := i + 6
		if j+1 < len(c.b) && c.b[j] == '\\' && c.b[j+1] == 'u' {
			if lo, ok := hex4(c.b, j+2); ok && lo >= 0xdc00 && lo <= 0xdfff {
				return j + 6, nil
			}
		}
		return i, c.fail(i, "unpaired UTF-16 surrogate \\u%04x in a string: JSON text must encode valid Unicode", r)
	}
	return i + 6, nil
}

// esc renders the escaped character at i for an error message.
func (c *checker) esc(i int) string {
	r, _ := utf8.DecodeRune(c.b[i:])
	if r < 0x20 || r == 0x7f {
		return fmt.Sprintf("<0x%02x>", r)
	}
	return string(r)
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, ch := range b[i : i+4] {
		switch {
		case ch >= '0' && ch <= '9':
			r = r<<4 | rune(ch-'0')
		case ch >= 'a' && ch <= 'f':
			r = r<<4 | rune(ch-'a'+10)
		case ch >= 'A' && ch <= 'F':
			r = r<<4 | rune(ch-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number checks the number starting at i: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *checker) number(i int) (int, *syntaxError) {
	b := c.b
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = c.digits(i)
	default:
		return i, c.fail(i, "unexpected %s in a number, expecting a digit", c.describe(i))
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, c.fail(i, "unexpected %s after the decimal point of a number, expecting a digit", c.describe(i))
		}
		i = c.digits(i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, c.fail(i, "unexpected %s in the exponent of a number, expecting a digit", c.describe(i))
		}
		i = c.digits(i)
	}
	return i, nil
}

func (c *checker) digits(i int) int {
	for i < len(c.b) && c.b[i] >= '0' && c.b[i] <= '9' {
		i++
	}
	return i
}

// invalidUTF8At returns the offset of the first byte of b that does not start
// a valid UTF-8 sequence, or -1.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// appendCompact appends the JSON text src, which checkJSON accepted, to dst
// without its insignificant whitespace.
func appendCompact(dst, src []byte) []byte {
	start := 0 // start of the run of src not yet copied
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		case '"':
			i = stringEnd(src, i+1)
		}
	}
	return append(dst, src[start:]...)
}

// stringEnd returns the offset of the closing quote of the checked string
// whose content starts at i.
func stringEnd(b []byte, i int) int {
	for b[i] != '"' {
		if b[i] == '\\' {
			i++
		}
		i++
	}
	return i
}

// appendUnescaped appends the text of the checked JSON string content s (the
// bytes between the quotes) to dst. The checker has made sure that every
// escape is valid and every surrogate paired.
func appendUnescaped(dst, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, 0)
			s = s[4:]
			if utf16.IsSurrogate(r) {
				lo, _ := hex4(s, 2)
				r, s = utf16.DecodeRune(r, lo), s[6:]
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
}
