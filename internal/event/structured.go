package event

import (
	"encoding/base64"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// checkBody checks that a JSON body is valid UTF-8 and valid JSON nesting at
// most maxDepth deep, so that fastjson may parse it.
func checkBody(body []byte, maxDepth int) *Error {
	if !utf8.Valid(body) {
		return bodyError(TitleMalformedJSON, fmt.Sprintf("the body is not valid UTF-8: invalid byte 0x%02x at byte %d; JSON must be UTF-8", body[invalidUTF8At(body)], invalidUTF8At(body)))
	}
	if err := checkJSON(body, maxDepth); err != nil {
		return bodyError(TitleMalformedJSON, "the body is not valid JSON: "+err.Error())
	}
	return nil
}

// parse runs fastjson on a body checkBody accepted.
func (d *decoder) parse(body []byte) (*fastjson.Value, *Error) {
	v, err := d.p.ParseBytes(body)
	if err != nil {
		// checkJSON is stricter than fastjson, so this means a bug here.
		return nil, bodyError(TitleMalformedJSON, "the body is not valid JSON: "+err.Error())
	}
	return v, nil
}

func parseStructured(body []byte, lim Limits) (*Event, *Error) {
	if err := checkBody(body, MaxDepth); err != nil {
		return nil, err
	}
	d := getDecoder(lim)
	defer putDecoder(d, len(body))
	v, err := d.parse(body)
	if err != nil {
		return nil, err
	}
	if t := v.Type(); t != fastjson.TypeObject {
		msg := fmt.Sprintf("a structured event must be a JSON object, got %s", typeName(t))
		if t == fastjson.TypeArray {
			msg += "; send a batch of events as application/cloudevents-batch+json"
		}
		return nil, bodyError(TitleInvalidEvent, msg)
	}
	return d.decodeObject(v, new(Event))
}

func parseBatch(body []byte, lim Limits) ([]*Event, []error, *Error) {
	// The array adds one level above the events.
	if err := checkBody(body, MaxDepth+1); err != nil {
		return nil, nil, err
	}
	d := getDecoder(lim)
	defer putDecoder(d, len(body))
	v, err := d.parse(body)
	if err != nil {
		return nil, nil, err
	}
	if t := v.Type(); t != fastjson.TypeArray {
		msg := fmt.Sprintf("a batch must be a JSON array of events, got %s", typeName(t))
		if t == fastjson.TypeObject {
			msg += "; send a single event as application/cloudevents+json"
		}
		return nil, nil, bodyError(TitleInvalidBatch, msg)
	}
	items, _ := v.Array()
	if len(items) > lim.MaxBatch {
		return nil, nil, bodyError(TitleInvalidBatch, fmt.Sprintf("the batch holds %d events: at most %d are allowed in one request; split it", len(items), lim.MaxBatch))
	}
	events := make([]*Event, len(items))
	errs := make([]error, len(items))
	slab := make([]Event, len(items))
	for i, item := range items {
		if t := item.Type(); t != fastjson.TypeObject {
			errs[i] = bodyError(TitleInvalidEvent, fmt.Sprintf("a batch element must be a JSON object holding one event, got %s", typeName(t)))
			continue
		}
		ev, err := d.decodeObject(item, &slab[i])
		d.reset()
		if err != nil {
			errs[i] = err
			continue
		}
		events[i] = ev
	}
	return events, errs, nil
}

func typeName(t fastjson.Type) string {
	switch t {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a boolean"
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeArray:
		return "an array"
	case fastjson.TypeObject:
		return "an object"
	}
	return "a " + t.String()
}

// decodeObject decodes the members of one event object into d and finishes
// the event into ev.
func (d *decoder) decodeObject(v *fastjson.Value, ev *Event) (*Event, *Error) {
	o, _ := v.Object()
	o.Visit(d.member)
	return d.finish(ev)
}

// member decodes one top-level member of an event object. key and the values
// taken from v alias the parser's memory, which outlives the decoding.
func (d *decoder) member(key []byte, v *fastjson.Value) {
	m := lookupMember(key)
	if m < 0 {
		d.extMember(key, v)
		return
	}
	if !d.see(m) {
		return
	}
	ptr := memberPointers[m]
	if m == mData {
		// Type would unescape a string in place, after which fastjson would
		// re-escape it with strconv.Quote, which is not JSON. Marshalling
		// untouched values copies the checked text, compacted.
		start := len(d.arena)
		d.arena = v.MarshalTo(d.arena)
		if string(d.arena[start:]) == "null" {
			d.arena = d.arena[:start]
			return
		}
		d.data, d.dataKind = d.arena[start:], dataJSON
		d.present |= 1 << mData
		return
	}
	t := v.Type()
	if t == fastjson.TypeNull {
		return // an optional attribute given as null is absent; a required one is missing
	}
	switch m {
	case mDataBase64:
		if t != fastjson.TypeString {
			d.addErr(ptr, fmt.Sprintf("data_base64 must be a string of standard base64, got %s", typeName(t)))
			return
		}
		d.present |= 1 << mDataBase64 // given, so it conflicts with data even if invalid
		s, _ := v.StringBytes()
		if msg := checkBase64(s, d); msg != "" {
			d.addErr(ptr, msg)
			return
		}
		if !d.has(mData) {
			d.data, d.dataKind = s, dataBase64
		}
	case mExpectedVersion:
		if t != fastjson.TypeNumber {
			d.addErr(ptr, fmt.Sprintf("expectedversion must be a JSON integer from 0 to 9223372036854775807, e.g. 3, got %s", typeName(t)))
			return
		}
		d.setExpectedVersion(d.rawNumber(v), "a JSON integer")
	case aSequence:
		switch {
		case t == fastjson.TypeString:
			s, _ := v.StringBytes()
			d.addExt(m, key, extString, s)
		case t == fastjson.TypeNumber && isInteger(d.peekNumber(v)):
			d.addExt(m, key, extNumber, d.rawNumber(v))
		default:
			what := typeName(t)
			if t == fastjson.TypeNumber {
				what = string(d.peekNumber(v))
			}
			d.addErr(ptr, fmt.Sprintf("extension `sequence` must be a string or an integer, got %s", clip(what)))
			d.bad |= 1 << m
		}
	default:
		if t != fastjson.TypeString {
			d.addErr(ptr, fmt.Sprintf("attribute `%s` must be a string, got %s", memberNames[m], typeName(t)))
			d.bad |= 1 << m
			return
		}
		s, _ := v.StringBytes()
		if m >= aCorrelationID {
			d.addExt(m, key, extString, s)
			return
		}
		d.val[m] = s
		d.present |= 1 << m
	}
}

// extMember decodes a member that is no attribute Ensue knows: an extension.
func (d *decoder) extMember(key []byte, v *fastjson.Value) {
	if !d.seeExt(key) {
		return
	}
	if !validExtName(key) {
		d.addErr(pointerTo(string(key)), invalidExtNameMsg(string(key)))
		return
	}
	switch t := v.Type(); t {
	case fastjson.TypeNull:
		// Absent, as the JSON format asks of any attribute given as null.
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		d.addExt(-1, key, extString, s)
	case fastjson.TypeNumber:
		d.addExt(-1, key, extNumber, d.rawNumber(v))
	case fastjson.TypeTrue:
		d.addExt(-1, key, extBool, []byte("true"))
	case fastjson.TypeFalse:
		d.addExt(-1, key, extBool, []byte("false"))
	default:
		d.addErr(pointerTo(string(key)), fmt.Sprintf("extension `%s` must be a string, a number or a boolean, got %s", key, typeName(t)))
	}
}

// rawNumber returns the JSON text of a number value, copied to the arena.
func (d *decoder) rawNumber(v *fastjson.Value) []byte {
	start := len(d.arena)
	d.arena = v.MarshalTo(d.arena)
	return d.arena[start:]
}

// peekNumber returns the JSON text of a number value without keeping it.
func (d *decoder) peekNumber(v *fastjson.Value) []byte {
	start := len(d.arena)
	b := v.MarshalTo(d.arena)
	return b[start:]
}

var strictBase64 = base64.StdEncoding.Strict()

// checkBase64 returns what is wrong with s as standard padded base64, or "".
func checkBase64(s []byte, d *decoder) string {
	for i, c := range s {
		if c == '\r' || c == '\n' { // the decoder skips these silently
			return fmt.Sprintf("data_base64 is not standard base64 (RFC 4648 §4, padded): line break at byte %d", i)
		}
	}
	// Decode into the arena's spare room; nothing is kept.
	n := strictBase64.DecodedLen(len(s))
	d.arena = slices.Grow(d.arena, n)
	buf := d.arena[len(d.arena) : len(d.arena)+n]
	if _, err := strictBase64.Decode(buf, s); err != nil {
		return fmt.Sprintf("data_base64 is not standard base64 (RFC 4648 §4, padded): %v", err)
	}
	return ""
}
