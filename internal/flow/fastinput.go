package flow

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Decoding an event for CEL with encoding/json cost more than matching it
// (reflection, a json.Number per number, then a second pass turning those
// into int64 or float64). Stored events are strict JSON already, so they
// are decoded here in one pass over fastjson's parse, numbers straight to
// int64, uint64 or float64 as fromJSON would. Text where fastjson and
// encoding/json read strings differently (escaped lone surrogates, which
// encoding/json replaces with U+FFFD) goes the strict way.

var inputParsers sync.Pool

var surrogateEscapes = [][]byte{[]byte(`\ud`), []byte(`\uD`)}

// decodeTop decodes a JSON object into Go values as fromJSON gives them;
// ok is false when the caller must use the strict decoder instead.
func decodeTop(b []byte) (top map[string]any, ok bool) {
	// fastjson takes some text that is not JSON; such text must fail as
	// the strict decoder fails it.
	if !json.Valid(b) {
		return nil, false
	}
	for _, s := range surrogateEscapes {
		if bytes.Contains(b, s) {
			return nil, false
		}
	}
	p, _ := inputParsers.Get().(*fastjson.Parser)
	if p == nil {
		p = new(fastjson.Parser)
	}
	defer inputParsers.Put(p)
	v, err := p.ParseBytes(b)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil, false
	}
	o, _ := v.Object()
	top = make(map[string]any, o.Len())
	ok = true
	o.Visit(func(k []byte, e *fastjson.Value) {
		switch t := e.Type(); {
		case string(k) == "data":
			top["data"] = fastValue(e)
		case t == fastjson.TypeNumber:
			// An attribute keeps its text, as encoding/json's Number would.
			top[validUTF8(k)] = json.Number(e.MarshalTo(nil))
		case t == fastjson.TypeObject || t == fastjson.TypeArray:
			ok = false // not an attribute: the strict path says so
		default:
			top[validUTF8(k)] = fastValue(e)
		}
	})
	return top, ok
}

func fastValue(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, e *fastjson.Value) {
			m[validUTF8(k)] = fastValue(e)
		})
		return m
	case fastjson.TypeArray:
		a, _ := v.Array()
		out := make([]any, len(a))
		for i, e := range a {
			out[i] = fastValue(e)
		}
		return out
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return validUTF8(s)
	case fastjson.TypeNumber:
		var buf [64]byte
		raw := v.MarshalTo(buf[:0])
		if !bytes.ContainsAny(raw, ".eE") {
			if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
				return i
			}
			if u, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
				return u
			}
		}
		f, _ := strconv.ParseFloat(string(raw), 64)
		return f
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	}
	return nil
}

// validUTF8 copies bytes into a string as encoding/json reads them: each
// byte of invalid UTF-8 becomes U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return string(out)
}
