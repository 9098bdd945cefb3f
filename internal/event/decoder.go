package event

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Member indexes: the attributes an Event has a field for, then the other
// members with a meaning of their own. They index decoder.val and the bits of
// decoder.seen and decoder.present.
const (
	aSpecVersion = iota
	aID
	aSource
	aType
	aSubject
	aTime
	aDataContentType
	aDataSchema
	aCorrelationID // the named extensions, from here to aSequence
	aCausationID
	aPartitionKey
	aTraceParent
	aTraceState
	aSequence
	numAttrs

	mExpectedVersion = iota - 1
	mData
	mDataBase64
	numMembers
)

var memberNames = [numMembers]string{
	"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema",
	"correlationid", "causationid", "partitionkey", "traceparent", "tracestate", "sequence",
	"expectedversion", "data", "data_base64",
}

var attrNames = memberNames[:numAttrs]

var memberNameBytes = func() (b [numMembers][]byte) {
	for i, n := range memberNames {
		b[i] = []byte(n)
	}
	return b
}()

// memberPointers are the JSON pointers to the members, built once.
var memberPointers = func() (p [numMembers]string) {
	for i, n := range memberNames {
		p[i] = "/" + n
	}
	return p
}()

// lookupMember returns the member index of name, or -1 for an extension.
func lookupMember(name []byte) int {
	switch string(name) {
	case "specversion":
		return aSpecVersion
	case "id":
		return aID
	case "source":
		return aSource
	case "type":
		return aType
	case "subject":
		return aSubject
	case "time":
		return aTime
	case "datacontenttype":
		return aDataContentType
	case "dataschema":
		return aDataSchema
	case "correlationid":
		return aCorrelationID
	case "causationid":
		return aCausationID
	case "partitionkey":
		return aPartitionKey
	case "traceparent":
		return aTraceParent
	case "tracestate":
		return aTraceState
	case "sequence":
		return aSequence
	case "expectedversion":
		return mExpectedVersion
	case "data":
		return mData
	case "data_base64":
		return mDataBase64
	}
	return -1
}

// ext is an extension attribute kept in the canonical JSON.
type ext struct {
	name []byte
	kind uint8
	val  []byte // a string's decoded text, or a number's or boolean's JSON text
}

const (
	extString      uint8 = iota
	extPlainString       // a string whose text needs no escaping in JSON
	extNumber
	extBool
)

// How an event's data is held in decoder.data.
const (
	dataNone   uint8 = iota
	dataJSON         // compact JSON text, written as "data" verbatim
	dataText         // text, written as a JSON string in "data"
	dataBase64       // base64 text, checked, written as "data_base64"
	dataBinary       // raw bytes, base64-encoded into "data_base64"
)

// decoder is the scratch state for decoding one event at a time. It is
// pooled: every byte slice in it may alias the body, the headers or pooled
// memory, and finish copies what the Event keeps.
type decoder struct {
	lim Limits

	members []member // where the members of the body's event objects are
	elems   []span   // where the elements of a batch are

	val     [numAttrs][]byte
	seen    uint32 // members given, even as null, for finding duplicates
	present uint32 // members with a usable value
	bad     uint32 // members already reported as wrongly typed
	plain   uint32 // attributes whose text needs no escaping in JSON

	exts    []ext
	names   [][]byte // extension member names given, for finding duplicates
	nameSet map[string]struct{}

	data            []byte
	dataKind        uint8
	dataAt          int // where encode wrote the data value, 0 for none or binary
	expectedVersion int64

	errs     []FieldError
	nerrs    int  // problems found, possibly more than len(errs)
	sortErrs bool // report errs sorted, as they were found in no stable order

	arena []byte // append-only scratch for decoded text; slices into it stay valid
	out   []byte // the canonical JSON being built
}

var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// maxPooledBytes bounds the scratch memory that goes back into the pool; a
// decoder that grew larger for a big body is left to the garbage collector.
const maxPooledBytes = 4 << 20

func getDecoder(lim Limits) *decoder {
	d := decoderPool.Get().(*decoder)
	d.lim = lim
	return d
}

func putDecoder(d *decoder) {
	if cap(d.arena) > maxPooledBytes || cap(d.out) > maxPooledBytes || cap(d.members) > maxPooledBytes/64 {
		return
	}
	d.reset()
	decoderPool.Put(d)
}

// reset forgets the last event, keeping the memory. Stale entries past the
// lengths of exts and names are never read, and a pooled decoder lives at
// most two garbage collections, so they are not cleared.
func (d *decoder) reset() {
	clear(d.val[:])
	d.seen, d.present, d.bad, d.plain = 0, 0, 0, 0
	d.exts = d.exts[:0]
	d.names = d.names[:0]
	d.nameSet = nil // only events with many extensions need it; do not pool it
	d.data, d.dataKind, d.expectedVersion = nil, dataNone, 0
	d.errs, d.nerrs, d.sortErrs = d.errs[:0], 0, false
	d.arena = d.arena[:0]
}

func (d *decoder) has(m int) bool { return d.present&(1<<m) != 0 }

func (d *decoder) addErr(pointer, msg string) {
	d.nerrs++
	if len(d.errs) < maxFieldErrors {
		d.errs = append(d.errs, FieldError{Pointer: pointer, Message: msg})
	}
}

// see records that member m was given and reports whether it was the first
// time; a repeat is a problem.
func (d *decoder) see(m int) bool {
	if d.seen&(1<<m) != 0 {
		d.addErr(memberPointers[m], duplicateMsg(memberNames[m]))
		return false
	}
	d.seen |= 1 << m
	return true
}

// seeExt is see for an extension name.
func (d *decoder) seeExt(name []byte) bool {
	dup := false
	if len(d.names) >= 16 {
		// Past a handful of names a linear scan would make hostile events
		// with thousands of members quadratic.
		if d.nameSet == nil {
			d.nameSet = make(map[string]struct{}, 2*len(d.names))
			for _, n := range d.names {
				d.nameSet[string(n)] = struct{}{}
			}
		}
		_, dup = d.nameSet[string(name)]
		if !dup {
			d.nameSet[string(name)] = struct{}{}
		}
	} else {
		for _, n := range d.names {
			if bytes.Equal(n, name) {
				dup = true
				break
			}
		}
	}
	if dup {
		d.addErr(pointerTo(string(name)), duplicateMsg(string(name)))
		return false
	}
	d.names = append(d.names, name)
	return true
}

func duplicateMsg(name string) string {
	return fmt.Sprintf("member `%s` appears more than once: give each attribute once", clip(name))
}

// clip shortens a name quoted in a message; pointers always carry it whole.
func clip(s string) string {
	const maxShown = 64
	if len(s) <= maxShown {
		return s
	}
	n := maxShown
	for n > 0 && s[n]&0xc0 == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}

func validExtName(name []byte) bool {
	if len(name) == 0 || len(name) > MaxExtNameBytes {
		return false
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func invalidExtNameMsg(name string) string {
	msg := fmt.Sprintf("extension name `%s` is invalid: CloudEvents attribute names are 1 to %d lowercase letters a-z and digits 0-9", clip(name), MaxExtNameBytes)
	if lower := strings.ToLower(name); lower != name && validExtName([]byte(lower)) {
		msg += fmt.Sprintf("; did you mean `%s`?", lower)
	}
	return msg
}

// requiredHint says what each required attribute should hold.
var requiredHint = [...]string{
	aSpecVersion: `set it to "1.0"`,
	aID:          "set it to an identifier unique within the source, e.g. a UUID",
	aSource:      `set it to a URI-reference naming where the event happened, e.g. "/shop/orders"`,
	aType:        `set it to the kind of event, e.g. "order.placed"`,
}

// checkAttributes adds the problems that do not depend on how the event was
// encoded: required attributes, lengths, reserved types, pairs of members that
// exclude or need each other.
func (d *decoder) checkAttributes() {
	for _, a := range [...]int{aSpecVersion, aID, aSource, aType} {
		switch {
		case d.bad&(1<<a) != 0:
		case !d.has(a):
			d.addErr(memberPointers[a], fmt.Sprintf("required attribute `%s` is missing: %s", attrNames[a], requiredHint[a]))
		case len(d.val[a]) == 0:
			d.addErr(memberPointers[a], fmt.Sprintf("required attribute `%s` is empty: %s", attrNames[a], requiredHint[a]))
		case a == aSpecVersion:
			if string(d.val[a]) != "1.0" {
				d.addErr(memberPointers[a], fmt.Sprintf(`specversion %q is not supported: Ensue accepts CloudEvents 1.0, set it to "1.0"`, clip(string(d.val[a]))))
			}
		case len(d.val[a]) > MaxIDBytes:
			d.addErr(memberPointers[a], fmt.Sprintf("attribute `%s` is %d bytes long: at most %d are allowed", attrNames[a], len(d.val[a]), MaxIDBytes))
		}
	}
	if d.has(aType) && !d.lim.AllowReserved && bytes.HasPrefix(d.val[aType], []byte(ReservedTypePrefix)) {
		d.addErr(memberPointers[aType], fmt.Sprintf("type %q is reserved: types starting with %q are Ensue's own events; choose another prefix", clip(string(d.val[aType])), ReservedTypePrefix))
	}
	if d.has(aSubject) {
		switch n := len(d.val[aSubject]); {
		case n == 0:
			d.addErr(memberPointers[aSubject], "attribute `subject` is empty: leave it out, or name what the event is about, e.g. \"order-123\"")
		case n > MaxSubjectBytes:
			d.addErr(memberPointers[aSubject], fmt.Sprintf("attribute `subject` is %d bytes long: at most %d are allowed", n, MaxSubjectBytes))
		}
	}
	for _, a := range [...]int{aDataContentType, aDataSchema} {
		if d.has(a) && len(d.val[a]) == 0 {
			d.addErr(memberPointers[a], fmt.Sprintf("attribute `%s` is empty: leave it out or give a value", attrNames[a]))
		}
	}
	if d.has(mExpectedVersion) && (d.present|d.bad)&(1<<aSubject) == 0 {
		d.addErr(memberPointers[mExpectedVersion], "expectedversion needs a subject: it states the version of the stream named by subject")
	}
	if d.has(mData) && d.has(mDataBase64) {
		d.addErr(memberPointers[mDataBase64], "an event carries either `data` or `data_base64`, not both: remove one")
	}
}

func checkTime(s string) string {
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil || strings.IndexByte(s, ',') >= 0 {
		return fmt.Sprintf("attribute `time` must be an RFC 3339 timestamp such as \"2024-05-01T12:30:00Z\", got %q", clip(s))
	}
	return ""
}

// finish validates what was decoded into d and, if it is a valid event,
// fills ev (the attributes and the canonical JSON) and returns it.
func (d *decoder) finish(ev *Event) (*Event, *Error) {
	d.checkAttributes()
	d.materialize(ev)
	if d.has(aTime) && d.bad&(1<<aTime) == 0 {
		if msg := checkTime(ev.Time); msg != "" {
			d.addErr(memberPointers[aTime], msg)
		}
	}
	if d.nerrs > 0 {
		errs := append([]FieldError(nil), d.errs...)
		if d.sortErrs {
			slices.SortFunc(errs, compareFieldErrors)
		}
		return nil, newEventError(http.StatusBadRequest, errs, d.nerrs)
	}
	d.out = d.encode(d.out[:0])
	if len(d.out) > d.lim.MaxEventBytes {
		msg := fmt.Sprintf("the event is %d bytes as canonical JSON: at most %d are allowed; send less data, or a reference to where it is stored", len(d.out), d.lim.MaxEventBytes)
		return nil, newEventError(http.StatusRequestEntityTooLarge, []FieldError{{Pointer: "", Message: msg}}, 1)
	}
	ev.JSON = bytes.Clone(d.out)
	ev.dataAt = int32(d.dataAt)
	if d.has(mExpectedVersion) {
		ev.ExpectedVersion, ev.HasExpectedVersion = d.expectedVersion, true
	}
	return ev, nil
}

// materialize copies the attribute values into ev's string fields, all from
// one allocation.
func (d *decoder) materialize(ev *Event) {
	fields := [...]*string{
		aID: &ev.ID, aSource: &ev.Source, aType: &ev.Type, aSubject: &ev.Subject,
		aTime: &ev.Time, aDataContentType: &ev.DataContentType, aDataSchema: &ev.DataSchema,
		aCorrelationID: &ev.CorrelationID, aCausationID: &ev.CausationID,
		aPartitionKey: &ev.PartitionKey, aTraceParent: &ev.TraceParent,
		aTraceState: &ev.TraceState, aSequence: &ev.Sequence,
	}
	n := 0
	for a := aID; a < numAttrs; a++ {
		n += len(d.val[a])
	}
	var sb strings.Builder
	sb.Grow(n)
	for a := aID; a < numAttrs; a++ {
		sb.Write(d.val[a])
	}
	s, off := sb.String(), 0
	for a := aID; a < numAttrs; a++ {
		if l := len(d.val[a]); l > 0 {
			*fields[a] = s[off : off+l]
			off += l
		}
	}
}

// addExt appends an extension to be kept, and for a named one also sets its
// value.
func (d *decoder) addExt(m int, name []byte, kind uint8, val []byte) {
	d.exts = append(d.exts, ext{name: name, kind: kind, val: val})
	if m >= 0 {
		d.val[m] = val
		d.present |= 1 << m
	}
}

// setExpectedVersion checks the digits of an expectedversion and keeps it.
func (d *decoder) setExpectedVersion(digits []byte, what string) {
	v, ok := parseVersion(digits)
	if !ok {
		d.addErr(memberPointers[mExpectedVersion], fmt.Sprintf("expectedversion must be %s from 0 to 9223372036854775807, e.g. 3, got %s", what, clip(string(digits))))
		return
	}
	d.expectedVersion = v
	d.present |= 1 << mExpectedVersion
}

// parseVersion parses a non-negative decimal int64 with no sign, leading
// zeros or other decoration.
func parseVersion(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n := int64(c - '0')
		if v > (1<<63-1-n)/10 {
			return 0, false
		}
		v = v*10 + n
	}
	return v, true
}

// isInteger reports whether a JSON number's text is an integer: no fraction
// or exponent.
func isInteger(num []byte) bool {
	return !bytes.ContainsAny(num, ".eE")
}
