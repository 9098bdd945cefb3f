package event

import (
	"encoding/base64"
	"fmt"
	"slices"
	"unicode/utf8"
)

// check checks a JSON body: valid UTF-8, valid JSON nesting at most maxDepth
// deep. It records the members of the objects at recDepth (see checker) in d.
func (d *decoder) check(body []byte, maxDepth, recDepth int) *Error {
	if !utf8.Valid(body) {
		at := invalidUTF8At(body)
		return bodyError(TitleMalformedJSON, fmt.Sprintf("the body is not valid UTF-8: invalid byte 0x%02x at byte %d; JSON must be UTF-8", body[at], at))
	}
	c := checker{b: body, maxDepth: maxDepth, recDepth: recDepth, members: d.members[:0], elems: d.elems[:0]}
	err := c.run()
	d.members, d.elems = c.members, c.elems // keep the memory for the next body
	if err != nil {
		return bodyError(TitleMalformedJSON, "the body is not valid JSON: "+err.Error())
	}
	return nil
}

// rootKind returns the first byte of a checked body's value.
func rootKind(body []byte) byte {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func parseStructured(body []byte, lim Limits) (*Event, *Error) {
	d := getDecoder(lim)
	defer putDecoder(d)
	if err := d.check(body, MaxDepth, 1); err != nil {
		return nil, err
	}
	if k := rootKind(body); k != '{' {
		msg := "a structured event must be a JSON object, got " + kindName(k)
		if k == '[' {
			msg += "; send a batch of events as application/cloudevents-batch+json"
		}
		return nil, bodyError(TitleInvalidEvent, msg)
	}
	for _, m := range d.members {
		d.member(body, m)
	}
	return d.finish(new(Event))
}

func parseBatch(body []byte, lim Limits) ([]*Event, []error, *Error) {
	d := getDecoder(lim)
	defer putDecoder(d)
	// The array adds one level above the events, whose members are recorded.
	if err := d.check(body, MaxDepth+1, 2); err != nil {
		return nil, nil, err
	}
	if k := rootKind(body); k != '[' {
		msg := "a batch must be a JSON array of events, got " + kindName(k)
		if k == '{' {
			msg += "; send a single event as application/cloudevents+json"
		}
		return nil, nil, bodyError(TitleInvalidBatch, msg)
	}
	items := d.elems
	if len(items) > lim.MaxBatch {
		return nil, nil, bodyError(TitleInvalidBatch, fmt.Sprintf("the batch holds %d events: at most %d are allowed in one request; split it", len(items), lim.MaxBatch))
	}
	// The members are in body order, so each element's are the next run.
	members := d.members
	events := make([]*Event, len(items))
	errs := make([]error, len(items))
	slab := make([]Event, len(items))
	for i, item := range items {
		if k := body[item.start]; k != '{' {
			errs[i] = bodyError(TitleInvalidEvent, "a batch element must be a JSON object holding one event, got "+kindName(k))
			continue
		}
		n := 0
		for n < len(members) && members[n].elem == i {
			n++
		}
		for _, m := range members[:n] {
			d.member(body, m)
		}
		members = members[n:]
		ev, err := d.finish(&slab[i])
		d.reset()
		if err != nil {
			errs[i] = err
			continue
		}
		events[i] = ev
	}
	return events, errs, nil
}

// kindName names the kind of JSON value that starts with byte k.
func kindName(k byte) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// str returns the text of the checked JSON string val (quotes included),
// decoded into the arena if it has escapes. Without escapes the text is also
// its own JSON: the checker let through no character that needs escaping.
func (d *decoder) str(val []byte, plain bool) []byte {
	s := val[1 : len(val)-1]
	if plain {
		return s
	}
	start := len(d.arena)
	d.arena = appendUnescaped(d.arena, s)
	return d.arena[start:]
}

// member decodes one top-level member of an event object. The bytes it keeps
// alias body or the arena, both of which outlive the decoding.
func (d *decoder) member(body []byte, mb member) {
	key := d.str(body[mb.key.start-1:mb.key.end+1], mb.plainKey)
	val := body[mb.val.start:mb.val.end]
	m := lookupMember(key)
	if m < 0 {
		d.extMember(key, val, mb.plainVal)
		return
	}
	if !d.see(m) {
		return
	}
	k := val[0]
	if k == 'n' {
		return // an optional member given as null is absent; a required one is missing
	}
	ptr := memberPointers[m]
	switch m {
	case mData:
		if mb.compact {
			d.data = val
		} else {
			start := len(d.arena)
			d.arena = appendCompact(d.arena, val)
			d.data = d.arena[start:]
		}
		d.dataKind = dataJSON
		d.present |= 1 << mData
	case mDataBase64:
		if k != '"' {
			d.addErr(ptr, "data_base64 must be a string of standard base64, got "+kindName(k))
			return
		}
		d.present |= 1 << mDataBase64 // given, so it conflicts with data even if invalid
		s := d.str(val, mb.plainVal)
		if msg := d.checkBase64(s); msg != "" {
			d.addErr(ptr, msg)
			return
		}
		if !d.has(mData) {
			d.data, d.dataKind = s, dataBase64
		}
	case mExpectedVersion:
		if !isNumber(k) {
			d.addErr(ptr, "expectedversion must be a JSON integer from 0 to 9223372036854775807, e.g. 3, got "+kindName(k))
			return
		}
		d.setExpectedVersion(val, "a JSON integer")
	case aSequence:
		switch {
		case k == '"':
			d.addExt(m, key, stringKind(mb.plainVal), d.str(val, mb.plainVal))
		case isNumber(k) && isInteger(val):
			d.addExt(m, key, extNumber, val)
		default:
			what := kindName(k)
			if isNumber(k) {
				what = string(val)
			}
			d.addErr(ptr, fmt.Sprintf("extension `sequence` must be a string or an integer, got %s", clip(what)))
			d.bad |= 1 << m
		}
	default:
		if k != '"' {
			d.addErr(ptr, fmt.Sprintf("attribute `%s` must be a string, got %s", memberNames[m], kindName(k)))
			d.bad |= 1 << m
			return
		}
		s := d.str(val, mb.plainVal)
		if m >= aCorrelationID {
			d.addExt(m, key, stringKind(mb.plainVal), s)
			return
		}
		d.val[m] = s
		d.present |= 1 << m
		if mb.plainVal {
			d.plain |= 1 << m
		}
	}
}

func isNumber(k byte) bool { return k == '-' || k >= '0' && k <= '9' }

func stringKind(plain bool) uint8 {
	if plain {
		return extPlainString
	}
	return extString
}

// extMember decodes a member that is no attribute Ensue knows: an extension.
func (d *decoder) extMember(key, val []byte, plain bool) {
	if !d.seeExt(key) {
		return
	}
	if !validExtName(key) {
		d.addErr(pointerTo(string(key)), invalidExtNameMsg(string(key)))
		return
	}
	switch k := val[0]; {
	case k == 'n':
		// Absent, as the JSON format asks of any attribute given as null.
	case k == '"':
		d.addExt(-1, key, stringKind(plain), d.str(val, plain))
	case k == 't' || k == 'f':
		d.addExt(-1, key, extBool, val)
	case isNumber(k):
		d.addExt(-1, key, extNumber, val)
	default:
		d.addErr(pointerTo(string(key)), fmt.Sprintf("extension `%s` must be a string, a number or a boolean, got %s", key, kindName(k)))
	}
}

var strictBase64 = base64.StdEncoding.Strict()

// checkBase64 returns what is wrong with s as standard padded base64, or "".
func (d *decoder) checkBase64(s []byte) string {
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
