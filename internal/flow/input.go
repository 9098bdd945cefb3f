package flow

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// Input is the event a flow sees. It is built once per event and shared by
// every flow matched against it (read-only, safe for concurrent use), so the
// event is decoded once however many flows look at it.
type Input struct {
	typ, source, subject, id string
	event                    map[string]any // what `event` holds, as Go values
	act                      interpreter.Activation
}

// Standard attributes that are always present in `event`, as "" when the
// event has none: a CloudEvent may not carry them, and an expression such
// as `event.subject` is easier to write when it cannot fail with "no such
// key" (CloudEvents forbids empty values for them, so "" means absent).
var alwaysPresent = []string{"subject", "time", "datacontenttype", "dataschema"}

// NewInput decodes a CloudEvent in JSON structured format, as Ensue stores
// it: attributes at the top level, data as JSON in `data` or base64 in
// `data_base64`. Every attribute becomes a string in `event` (numbers and
// booleans of extensions as written); `data` is decoded from JSON, with
// integral numbers as int64 (uint64 beyond it) and others as float64. Data
// in data_base64 is decoded as JSON when datacontenttype says JSON, and is
// bytes otherwise. The event must have a type.
func NewInput(eventJSON []byte) (*Input, error) {
	top, fast := decodeTop(eventJSON)
	if !fast {
		dec := json.NewDecoder(bytes.NewReader(eventJSON))
		dec.UseNumber()
		if err := dec.Decode(&top); err != nil {
			return nil, fmt.Errorf("flow: event is not a JSON object: %w", err)
		}
		if top == nil {
			return nil, errors.New("flow: event is not a JSON object: null")
		}
		if dec.More() {
			return nil, errors.New("flow: event has data after its JSON object")
		}
	}
	ev := make(map[string]any, len(top)+len(alwaysPresent))
	for _, k := range alwaysPresent {
		ev[k] = ""
	}
	for k, v := range top {
		switch k {
		case "data", "data_base64":
			continue
		}
		switch v := v.(type) {
		case nil:
		case string:
			ev[k] = v
		case json.Number:
			ev[k] = v.String()
		case bool:
			ev[k] = strconv.FormatBool(v)
		default:
			return nil, fmt.Errorf("flow: event attribute %q must be a string, number or boolean", k)
		}
	}
	data, hasData := top["data"]
	b64, hasB64 := top["data_base64"]
	switch {
	case hasData && hasB64 && b64 != nil:
		return nil, errors.New("flow: event has both data and data_base64; keep one")
	case hasB64 && b64 != nil:
		s, ok := b64.(string)
		if !ok {
			return nil, errors.New("flow: event data_base64 must be a string")
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("flow: event data_base64: %w", err)
		}
		ct, _ := ev["datacontenttype"].(string)
		if isJSON(ct) {
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				return nil, fmt.Errorf("flow: event data_base64 holds no JSON although datacontenttype is %s: %w", ct, err)
			}
			ev["data"] = fromJSON(v)
		} else {
			ev["data"] = raw
		}
	case hasData && fast:
		ev["data"] = data // already int64, uint64 or float64 numbers
	case hasData:
		ev["data"] = fromJSON(data)
	}
	in := &Input{event: ev}
	in.typ, _ = ev["type"].(string)
	in.source, _ = ev["source"].(string)
	in.subject, _ = ev["subject"].(string)
	in.id, _ = ev["id"].(string)
	if in.typ == "" {
		return nil, errors.New("flow: event has no type")
	}
	// Converted once here: CEL would otherwise wrap the Go map again for
	// every flow evaluated against this event.
	act, err := interpreter.NewActivation(map[string]any{"event": types.DefaultTypeAdapter.NativeToValue(ev)})
	if err != nil {
		return nil, fmt.Errorf("flow: event: %w", err)
	}
	in.act = act
	return in, nil
}

// isJSON reports whether a datacontenttype holds JSON (application/json,
// text/json or a +json suffix); an absent type means JSON in CloudEvents.
func isJSON(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// fromJSON turns json.Numbers into int64 (or uint64) when integral and
// float64 otherwise, so that CEL sees ints where the producer wrote ints.
func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u
			}
		}
		f, _ := strconv.ParseFloat(s, 64) // ±Inf beyond float64: JSON has no such number, keep the nearest
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSON(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = fromJSON(e)
		}
		return v
	default:
		return v
	}
}

// Type returns the event's type.
func (in *Input) Type() string { return in.typ }

// Source returns the event's source.
func (in *Input) Source() string { return in.source }

// Subject returns the event's subject, or "".
func (in *Input) Subject() string { return in.subject }

// ID returns the event's id, or "".
func (in *Input) ID() string { return in.id }

// Event returns the value of `event` as Go values. It is shared: do not
// modify it.
func (in *Input) Event() map[string]any { return in.event }
