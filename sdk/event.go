package sdk

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// SpecVersion is the CloudEvents version the SDK speaks.
const SpecVersion = "1.0"

// Event is a CloudEvent to append, as a producer describes it.
//
// Type and Source are required. ID is generated when empty; set it yourself
// when a retry must be recognised as the same event, since (Source, ID) is an
// event's identity and the server records it once.
type Event struct {
	// ID identifies the event within its Source. Empty means Append generates a
	// random (UUID version 4) one.
	ID string
	// Source names the producer, e.g. "shop/checkout" or a URI.
	Source string
	// Type says what happened, e.g. "order.placed".
	Type string
	// Subject names the stream the event belongs to, e.g. "order-123". Events
	// without one are in the log but in no stream.
	Subject string
	// Time is when it happened; zero means unset.
	Time time.Time
	// DataContentType is the media type of Data; empty means application/json.
	DataContentType string
	// DataSchema is a URI of the schema Data follows.
	DataSchema string
	// Data is the payload: any value encoding/json can marshal, a
	// json.RawMessage sent as is, or a []byte sent base64-encoded
	// (data_base64). Nil means no data.
	Data any
	// Extensions are further CloudEvents attributes, such as "correlationid",
	// "causationid", "sequence" or "partitionkey". Names use only a-z and 0-9;
	// values are strings, numbers or booleans.
	Extensions map[string]any
	// ExpectedVersion, when set, makes the append fail with
	// ErrWrongExpectedVersion unless the Subject's stream is at that version
	// (0: the stream must not exist yet). Build it with ExpectVersion.
	ExpectedVersion *int64
}

// ExpectVersion returns a pointer to n, for Event.ExpectedVersion.
func ExpectVersion(n int64) *int64 { return &n }

// core attribute names, which extensions may not reuse.
var coreAttributes = []string{
	"specversion", "id", "source", "type", "subject", "time",
	"datacontenttype", "dataschema", "data", "data_base64",
}

// NewID returns a random UUID version 4 string, the kind Append gives events
// without an ID.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// itself); keep the contract explicit anyway.
		panic(fmt.Sprintf("sdk: crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// withID returns e with a generated ID when it has none.
func (e Event) withID() Event {
	if e.ID == "" {
		e.ID = NewID()
	}
	return e
}

// MarshalJSON encodes the event in the CloudEvents 1.0 JSON format, the form
// the server ingests. An empty ID stays empty here: Append fills it first.
func (e Event) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"specversion":"1.0"`)
	str := func(name, v string) {
		if v == "" {
			return
		}
		b.WriteString(`,"` + name + `":`)
		enc, _ := json.Marshal(v) // strings always marshal
		b.Write(enc)
	}
	str("id", e.ID)
	str("source", e.Source)
	str("type", e.Type)
	str("subject", e.Subject)
	if !e.Time.IsZero() {
		str("time", e.Time.Format(time.RFC3339Nano))
	}
	str("datacontenttype", e.DataContentType)
	str("dataschema", e.DataSchema)

	names := make([]string, 0, len(e.Extensions))
	for name := range e.Extensions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := checkExtensionName(name); err != nil {
			return nil, err
		}
		if name == "expectedversion" && e.ExpectedVersion != nil {
			continue // the field wins
		}
		v, err := json.Marshal(e.Extensions[name])
		if err != nil {
			return nil, fmt.Errorf("sdk: extension %q: %w", name, err)
		}
		b.WriteString(`,"` + name + `":`)
		b.Write(v)
	}
	if e.ExpectedVersion != nil {
		fmt.Fprintf(&b, `,"expectedversion":%d`, *e.ExpectedVersion)
	}

	switch d := e.Data.(type) {
	case nil:
	case json.RawMessage:
		if d != nil {
			if !json.Valid(d) {
				return nil, fmt.Errorf("sdk: event data is a json.RawMessage that is not valid JSON")
			}
			b.WriteString(`,"data":`)
			b.Write(d)
		}
	case []byte:
		b.WriteString(`,"data_base64":"`)
		b.WriteString(base64.StdEncoding.EncodeToString(d))
		b.WriteByte('"')
	default:
		v, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("sdk: event data: %w", err)
		}
		b.WriteString(`,"data":`)
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func checkExtensionName(name string) error {
	if slices.Contains(coreAttributes, name) {
		return fmt.Errorf("sdk: extension %q: the name is a core CloudEvents attribute; set the Event field instead", name)
	}
	if name == "" || len(name) > 20 {
		return fmt.Errorf("sdk: extension %q: a name has 1 to 20 characters", name)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return fmt.Errorf("sdk: extension %q: a name uses only a-z and 0-9", name)
		}
	}
	return nil
}

// UnmarshalJSON reads an event in the CloudEvents 1.0 JSON format, so that
// events kept as JSON (one per line, say) can be appended again: data stays a
// json.RawMessage, data_base64 becomes a []byte, "expectedversion" fills
// ExpectedVersion and every other unknown attribute becomes an extension.
func (e *Event) UnmarshalJSON(b []byte) error {
	env, err := decodeEnvelope(b, "expectedversion")
	if err != nil {
		return err
	}
	if env.specVersion != "" && env.specVersion != SpecVersion {
		return fmt.Errorf("sdk: specversion %q is not supported; use %q", env.specVersion, SpecVersion)
	}
	out := Event{
		ID: env.id, Source: env.source, Type: env.typ, Subject: env.subject, Time: env.time,
		DataContentType: env.dataContentType, DataSchema: env.dataSchema, Extensions: env.extensions,
	}
	switch {
	case env.binary != nil:
		out.Data = env.binary
	case env.data != nil:
		out.Data = env.data
	}
	if raw, ok := env.attrs["expectedversion"]; ok && string(raw) != "null" {
		var v int64
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("sdk: attribute \"expectedversion\" must be an integer")
		}
		out.ExpectedVersion = &v
	}
	*e = out
	return nil
}

// decodeValue decodes JSON keeping numbers exact (as json.Number).
func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
