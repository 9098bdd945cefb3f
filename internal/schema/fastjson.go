package schema

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// The fast path on raw JSON.
//
// Decoding data into Go values (maps, slices, strings) cost more than the
// plan's checks themselves: about 26 allocations for a typical order. So
// Validate first walks the plan over the data as fastjson parses it, in a
// pooled parser, allocating only for the strings a format or pattern must
// see and for numbers with bounds. Only when that walk is not sure does the
// data get decoded for the library.
//
// The walk is sound only on what both readers see alike. The data reaching
// Validate from ingest has passed the event parser's strict check; on other
// input, fastjson is more lenient than JSON, so bytes that are not strict
// JSON never take this path: the walk runs only when the strict decoder
// would accept the text's structure, which it checks cheaply here for the
// one known difference that matters for strings (lone surrogate escapes,
// which fastjson keeps as text and the strict decoder replaces).

var fjParsers sync.Pool

// fjState is what one walk reuses: its parser and a scratch buffer for
// number literals.
type fjState struct {
	parser  fastjson.Parser
	scratch []byte
}

var surrogateEscapes = [][]byte{[]byte(`\ud`), []byte(`\uD`)}

// fastValid reports whether the plan is certain data is valid; false means
// "not sure" as well as "invalid".
func (p *plan) fastValid(data []byte, trusted bool) bool {
	for _, s := range surrogateEscapes {
		if bytes.Contains(data, s) {
			return false
		}
	}
	if !trusted && !json.Valid(data) {
		return false
	}
	st, _ := fjParsers.Get().(*fjState)
	if st == nil {
		st = new(fjState)
	}
	defer fjParsers.Put(st)
	v, err := st.parser.ParseBytes(data)
	if err != nil {
		return false
	}
	return p.validFJ(st, v, 0)
}

func (p *plan) validFJ(st *fjState, v *fastjson.Value, hops int) bool {
	if p.always {
		return true
	}
	if p.never {
		return false
	}
	if p.ref != nil {
		if hops >= maxRefHops || !p.ref.validFJ(st, v, hops+1) {
			return false
		}
		if p.refOnly {
			return true
		}
	}
	t := v.Type()
	if p.hasTypes && !p.typeOKFJ(st, v, t) {
		return false
	}
	if p.hasEnum && !enumOKFJ(p.enum, v, t) {
		return false
	}
	switch t {
	case fastjson.TypeObject:
		if p.format != nil {
			return false // formats of objects: the library decides
		}
		o, _ := v.Object()
		return p.objectOKFJ(st, o)
	case fastjson.TypeArray:
		if p.format != nil {
			return false
		}
		a, _ := v.Array()
		return p.arrayOKFJ(st, a)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if p.format == nil && p.pattern == nil {
			if p.minLen >= 0 || p.maxLen >= 0 {
				n := utf8.RuneCount(b)
				return !(p.minLen >= 0 && n < p.minLen || p.maxLen >= 0 && n > p.maxLen)
			}
			return true
		}
		if p.format != nil && !quickFormat(p.fmtName, b) {
			if p.format(string(b)) != nil {
				return false
			}
		}
		if p.pattern == nil && p.minLen < 0 && p.maxLen < 0 {
			return true
		}
		return p.stringOK(string(b))
	case fastjson.TypeNumber:
		if p.format == nil && p.min == nil && p.max == nil && p.exMin == nil && p.exMax == nil && p.multOf == nil {
			return true
		}
		st.scratch = v.MarshalTo(st.scratch[:0])
		if len(st.scratch) > 100 {
			return false // beyond what the plan compares: the library decides
		}
		if p.format != nil {
			return false // formats of numbers are rare: the library decides
		}
		return p.numberOK(json.Number(st.scratch))
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return p.format == nil || p.format(t == fastjson.TypeTrue) == nil
	case fastjson.TypeNull:
		return p.format == nil || p.format(nil) == nil
	}
	return false
}

func (p *plan) typeOKFJ(st *fjState, v *fastjson.Value, t fastjson.Type) bool {
	switch t {
	case fastjson.TypeNull:
		return typesHas(p.types, "null")
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return typesHas(p.types, "boolean")
	case fastjson.TypeString:
		return typesHas(p.types, "string")
	case fastjson.TypeArray:
		return typesHas(p.types, "array")
	case fastjson.TypeObject:
		return typesHas(p.types, "object")
	case fastjson.TypeNumber:
		if typesHas(p.types, "number") {
			return true
		}
		if !typesHas(p.types, "integer") {
			return false
		}
		st.scratch = v.MarshalTo(st.scratch[:0])
		return !bytes.ContainsAny(st.scratch, ".eE") || isIntegerLiteral(json.Number(st.scratch))
	}
	return false
}

// enumOKFJ is enumOK on raw values: strings, booleans and null are
// compared exactly; anything else is left to the library.
func enumOKFJ(values []any, v *fastjson.Value, t fastjson.Type) bool {
	switch t {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		for _, e := range values {
			if s, ok := e.(string); ok && s == string(b) {
				return true
			}
		}
	case fastjson.TypeTrue, fastjson.TypeFalse:
		for _, e := range values {
			if b, ok := e.(bool); ok && b == (t == fastjson.TypeTrue) {
				return true
			}
		}
	case fastjson.TypeNull:
		for _, e := range values {
			if e == nil {
				return true
			}
		}
	}
	return false
}

func (p *plan) objectOKFJ(st *fjState, o *fastjson.Object) bool {
	for _, name := range p.required {
		if o.Get(name) == nil {
			return false
		}
	}
	ok := true
	o.Visit(func(k []byte, v *fastjson.Value) {
		if !ok {
			return
		}
		if sub, found := p.props[string(k)]; found {
			ok = sub.validFJ(st, v, 0)
			return
		}
		if p.addlFalse {
			ok = false
			return
		}
		if p.addl != nil {
			ok = p.addl.validFJ(st, v, 0)
		}
	})
	return ok
}

func (p *plan) arrayOKFJ(st *fjState, a []*fastjson.Value) bool {
	if p.minItems >= 0 && len(a) < p.minItems {
		return false
	}
	if p.maxItems >= 0 && len(a) > p.maxItems {
		return false
	}
	if p.items != nil {
		for _, v := range a {
			if !p.items.validFJ(st, v, 0) {
				return false
			}
		}
	}
	return true
}

// quickFormat checks the commonest formats without allocating. It is
// stricter than the library (a subset of what it accepts), so true is
// certain; false only means "ask the library".
func quickFormat(name string, b []byte) bool {
	switch name {
	case "uuid":
		return quickUUID(b)
	case "date-time":
		return quickDateTime(b)
	}
	return false
}

func quickUUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// quickDateTime accepts RFC 3339 date-times of the form
// 2006-01-02T15:04:05[.fraction](Z|±07:00), with valid calendar dates and
// no leap second.
func quickDateTime(b []byte) bool {
	if len(b) < 20 {
		return false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return false
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	if day > days {
		return false
	}
	i := 19
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start || i-start > 9 {
			return false
		}
	}
	switch {
	case i == len(b)-1 && b[i] == 'Z':
		return true
	case i == len(b)-6 && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		oh, om := num(i+1, 2), num(i+4, 2)
		return oh >= 0 && oh <= 23 && om >= 0 && om <= 59
	}
	return false
}
