package sdk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Record is an event as the log keeps it: the event plus where and when it
// was recorded.
type Record struct {
	// Position is the record's place in the log, the same across all streams
	// and namespaces of a server; later records have greater positions.
	Position int64 `json:"position"`
	// Stream is the event's subject; empty for events without one.
	Stream string `json:"stream,omitempty"`
	// Version is the record's version within Stream (1, 2, 3, ...); 0
	// without a stream.
	Version int64 `json:"version,omitempty"`
	// RecordedAt is when the server stored the event.
	RecordedAt time.Time `json:"recorded_at"`
	// Namespace is the namespace the event belongs to.
	Namespace string `json:"namespace,omitempty"`
	// Event is the CloudEvent as stored.
	Event CloudEvent `json:"event"`
}

// recordJSON lets stream and version be null on the wire.
type recordJSON struct {
	Position   int64      `json:"position"`
	Stream     *string    `json:"stream"`
	Version    *int64     `json:"version"`
	RecordedAt time.Time  `json:"recorded_at"`
	Namespace  string     `json:"namespace"`
	Event      CloudEvent `json:"event"`
}

// UnmarshalJSON accepts stream and version absent or null.
func (r *Record) UnmarshalJSON(b []byte) error {
	var w recordJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Record{Position: w.Position, RecordedAt: w.RecordedAt, Namespace: w.Namespace, Event: w.Event}
	if w.Stream != nil {
		r.Stream = *w.Stream
	}
	if w.Version != nil {
		r.Version = *w.Version
	}
	return nil
}

// CloudEvent is a stored event in the CloudEvents 1.0 JSON format.
type CloudEvent struct {
	SpecVersion     string
	ID              string
	Source          string
	Type            string
	Subject         string
	Time            time.Time // zero when the event has none
	DataContentType string
	DataSchema      string
	// Data is the "data" member as raw JSON; nil when the event has no data
	// or carries binary data.
	Data json.RawMessage
	// BinaryData is the decoded "data_base64" member, for binary payloads.
	BinaryData []byte
	// Extensions holds every other attribute (correlationid, causationid,
	// sequence, ...). Numbers are json.Number.
	Extensions map[string]any
}

// ErrNoData is returned by DataAs for an event without data.
var ErrNoData = errors.New("sdk: the event has no data")

// DataAs decodes the event's data into v, which must be a pointer. Binary
// data (data_base64) is copied as is into a *[]byte, and decoded as JSON
// otherwise.
func (e CloudEvent) DataAs(v any) error {
	switch {
	case e.Data != nil:
		if err := json.Unmarshal(e.Data, v); err != nil {
			return fmt.Errorf("sdk: decode data of event %q: %w", e.ID, err)
		}
		return nil
	case e.BinaryData != nil:
		if p, ok := v.(*[]byte); ok {
			*p = slices.Clone(e.BinaryData)
			return nil
		}
		if err := json.Unmarshal(e.BinaryData, v); err != nil {
			return fmt.Errorf("sdk: decode binary data of event %q: %w", e.ID, err)
		}
		return nil
	}
	return ErrNoData
}

// CorrelationID returns the "correlationid" extension, or "".
func (e CloudEvent) CorrelationID() string { return e.stringExtension("correlationid") }

// CausationID returns the "causationid" extension, or "".
func (e CloudEvent) CausationID() string { return e.stringExtension("causationid") }

func (e CloudEvent) stringExtension(name string) string {
	s, _ := e.Extensions[name].(string)
	return s
}

// UnmarshalJSON reads the CloudEvents JSON format.
func (e *CloudEvent) UnmarshalJSON(b []byte) error {
	env, err := decodeEnvelope(b)
	if err != nil {
		return err
	}
	*e = CloudEvent{
		SpecVersion: env.specVersion, ID: env.id, Source: env.source, Type: env.typ, Subject: env.subject,
		Time: env.time, DataContentType: env.dataContentType, DataSchema: env.dataSchema,
		Data: env.data, BinaryData: env.binary, Extensions: env.extensions,
	}
	return nil
}

// envelope is an event in the CloudEvents JSON format, decoded once for
// Event and CloudEvent alike.
type envelope struct {
	attrs                                 map[string]json.RawMessage
	specVersion, id, source, typ, subject string
	dataContentType, dataSchema           string
	time                                  time.Time
	data                                  json.RawMessage
	binary                                []byte
	extensions                            map[string]any
}

// decodeEnvelope decodes the core attributes, data and extensions of an
// event; attributes named in skip are left in attrs only.
func decodeEnvelope(b []byte, skip ...string) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(b, &env.attrs); err != nil {
		return env, err
	}
	if env.attrs == nil {
		return env, fmt.Errorf("sdk: an event is a JSON object, got null")
	}
	var tm string
	for name, dst := range map[string]*string{
		"specversion": &env.specVersion, "id": &env.id, "source": &env.source, "type": &env.typ,
		"subject": &env.subject, "time": &tm, "datacontenttype": &env.dataContentType,
		"dataschema": &env.dataSchema,
	} {
		raw, ok := env.attrs[name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return env, fmt.Errorf("sdk: event attribute %q must be a string", name)
		}
	}
	if tm != "" {
		t, err := time.Parse(time.RFC3339Nano, tm)
		if err != nil {
			return env, fmt.Errorf("sdk: event attribute \"time\" must be an RFC 3339 timestamp: %w", err)
		}
		env.time = t
	}
	if raw, ok := env.attrs["data"]; ok {
		env.data = json.RawMessage(slices.Clone(raw))
	}
	if raw, ok := env.attrs["data_base64"]; ok && string(raw) != "null" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return env, fmt.Errorf("sdk: event attribute \"data_base64\" must be a string")
		}
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return env, fmt.Errorf("sdk: event attribute \"data_base64\": %w", err)
		}
		env.binary = d
	}
	for name, raw := range env.attrs {
		if slices.Contains(coreAttributes, name) || slices.Contains(skip, name) {
			continue
		}
		v, err := decodeValue(raw)
		if err != nil {
			return env, fmt.Errorf("sdk: event extension %q: %w", name, err)
		}
		if env.extensions == nil {
			env.extensions = make(map[string]any)
		}
		env.extensions[name] = v
	}
	return env, nil
}

// MarshalJSON writes the CloudEvents JSON format: core attributes first,
// then extensions in name order, then the data.
func (e CloudEvent) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	member := func(name string, v any) error {
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("sdk: event attribute %q: %w", name, err)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		nameJSON, _ := json.Marshal(name)
		b.Write(nameJSON)
		b.WriteByte(':')
		b.Write(enc)
		return nil
	}
	spec := e.SpecVersion
	if spec == "" {
		spec = SpecVersion
	}
	_ = member("specversion", spec)
	for _, a := range []struct{ name, v string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type}, {"subject", e.Subject},
	} {
		if a.v != "" {
			_ = member(a.name, a.v)
		}
	}
	if !e.Time.IsZero() {
		_ = member("time", e.Time.Format(time.RFC3339Nano))
	}
	if e.DataContentType != "" {
		_ = member("datacontenttype", e.DataContentType)
	}
	if e.DataSchema != "" {
		_ = member("dataschema", e.DataSchema)
	}
	for _, name := range slices.Sorted(maps.Keys(e.Extensions)) {
		if err := member(name, e.Extensions[name]); err != nil {
			return nil, err
		}
	}
	switch {
	case e.Data != nil:
		if err := member("data", e.Data); err != nil {
			return nil, err
		}
	case e.BinaryData != nil:
		_ = member("data_base64", e.BinaryData) // []byte marshals as base64
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
