package event

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

func newEvent(a *Attributes, lim Limits) (*Event, *Error) {
	d := getDecoder(lim)
	defer putDecoder(d)
	d.setString(aSpecVersion, "1.0")
	for m, s := range [...]string{
		aID: a.ID, aSource: a.Source, aType: a.Type, aSubject: a.Subject, aTime: a.Time,
		aDataContentType: a.DataContentType, aDataSchema: a.DataSchema,
		aCorrelationID: a.CorrelationID, aCausationID: a.CausationID, aPartitionKey: a.PartitionKey,
		aTraceParent: a.TraceParent, aTraceState: a.TraceState, aSequence: a.Sequence,
	} {
		if m != aSpecVersion && s != "" {
			d.setString(m, s)
		}
	}
	if a.HasExpectedVersion {
		d.see(mExpectedVersion)
		if a.ExpectedVersion < 0 {
			d.addErr(memberPointers[mExpectedVersion], fmt.Sprintf("expectedversion must be from 0 to 9223372036854775807, got %d", a.ExpectedVersion))
		} else {
			d.expectedVersion = a.ExpectedVersion
			d.present |= 1 << mExpectedVersion
		}
	}

	names := make([]string, 0, len(a.Extensions))
	for name := range a.Extensions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		d.extension(name, a.Extensions[name])
	}

	switch {
	case len(a.Data) > 0 && len(a.DataBinary) > 0:
		d.addErr(memberPointers[mDataBase64], "an event carries either `data` or `data_base64`, not both: set Data or DataBinary")
	case len(a.Data) > 0:
		d.jsonData(a.Data)
	case len(a.DataBinary) > 0:
		d.data, d.dataKind = a.DataBinary, dataBinary
		d.present |= 1 << mDataBase64
	}
	return d.finish(new(Event))
}

// setString sets the string attribute m, given in Attributes.
func (d *decoder) setString(m int, s string) {
	d.see(m)
	if !utf8.ValidString(s) {
		d.addErr(memberPointers[m], fmt.Sprintf("attribute `%s` is not valid UTF-8", memberNames[m]))
		d.bad |= 1 << m
		return
	}
	d.arena = append(d.arena, s...)
	val := d.arena[len(d.arena)-len(s):]
	if m >= aCorrelationID {
		d.addExt(m, memberNameBytes[m], extString, val)
		return
	}
	d.val[m] = val
	d.present |= 1 << m
}

// extension adds one entry of Attributes.Extensions.
func (d *decoder) extension(name string, v any) {
	d.arena = append(d.arena, name...)
	nb := d.arena[len(d.arena)-len(name):]
	ptr := func() string { return pointerTo(name) } // built only for a problem
	m := lookupMember(nb)
	switch {
	case m >= 0 && m < aCorrelationID || m > aSequence:
		d.addErr(ptr(), fmt.Sprintf("`%s` is not an extension but an attribute of its own: set it in its Attributes field", clip(name)))
		return
	case m >= 0:
		if !d.see(m) {
			return
		}
	case !d.seeExt(nb):
		return
	case !validExtName(nb):
		d.addErr(ptr(), invalidExtNameMsg(name))
		return
	}
	kind, val, ok := d.extValue(v)
	switch {
	case !ok:
		d.addErr(ptr(), fmt.Sprintf("extension `%s` must be a string, a number or a boolean, got %T %v", clip(name), v, v))
	case kind == 0xff: // nil: absent
	case m == aSequence && !(kind == extString || kind == extNumber && isInteger(val)):
		d.addErr(ptr(), fmt.Sprintf("extension `sequence` must be a string or an integer, got %T %v", v, v))
	case m >= 0 && m != aSequence && kind != extString:
		d.addErr(ptr(), fmt.Sprintf("attribute `%s` must be a string, got %T", name, v))
	default:
		d.addExt(m, nb, kind, val)
	}
}

// extValue turns an extension value into its kind and text. A nil value is
// kind 0xff.
func (d *decoder) extValue(v any) (kind uint8, val []byte, ok bool) {
	start := len(d.arena)
	switch x := v.(type) {
	case nil:
		return 0xff, nil, true
	case string:
		if !utf8.ValidString(x) {
			return 0, nil, false
		}
		d.arena = append(d.arena, x...)
		return extString, d.arena[start:], true
	case bool:
		d.arena = strconv.AppendBool(d.arena, x)
		return extBool, d.arena[start:], true
	case int:
		d.arena = strconv.AppendInt(d.arena, int64(x), 10)
	case int8:
		d.arena = strconv.AppendInt(d.arena, int64(x), 10)
	case int16:
		d.arena = strconv.AppendInt(d.arena, int64(x), 10)
	case int32:
		d.arena = strconv.AppendInt(d.arena, int64(x), 10)
	case int64:
		d.arena = strconv.AppendInt(d.arena, x, 10)
	case uint:
		d.arena = strconv.AppendUint(d.arena, uint64(x), 10)
	case uint8:
		d.arena = strconv.AppendUint(d.arena, uint64(x), 10)
	case uint16:
		d.arena = strconv.AppendUint(d.arena, uint64(x), 10)
	case uint32:
		d.arena = strconv.AppendUint(d.arena, uint64(x), 10)
	case uint64:
		d.arena = strconv.AppendUint(d.arena, x, 10)
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, nil, false
		}
		d.arena = strconv.AppendFloat(d.arena, float64(x), 'g', -1, 32)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, nil, false
		}
		d.arena = strconv.AppendFloat(d.arena, x, 'g', -1, 64)
	case json.Number:
		if x == "" || (x[0] != '-' && (x[0] < '0' || x[0] > '9')) || checkJSON([]byte(x), 0) != nil {
			return 0, nil, false
		}
		d.arena = append(d.arena, x...)
	default:
		return 0, nil, false
	}
	return extNumber, d.arena[start:], true
}

// jsonData takes Attributes.Data.
func (d *decoder) jsonData(data []byte) {
	ptr := memberPointers[mData]
	if at := invalidUTF8At(data); at >= 0 {
		d.addErr(ptr, fmt.Sprintf("data is not valid UTF-8 (invalid byte at %d)", at))
		return
	}
	var err *syntaxError
	if d.arena, data, err = compactJSON(d.arena, data, MaxDepth-1); err != nil {
		d.addErr(ptr, "data is not valid JSON: "+err.Error())
		return
	}
	if string(data) != "null" {
		d.data, d.dataKind = data, dataJSON
		d.present |= 1 << mData
	}
}
