package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// Defaults for the zero fields of Limits, and the fixed bounds on attributes.
const (
	DefaultMaxEventBytes = 1 << 20 // 1 MiB of canonical JSON
	DefaultMaxBatch      = 1000    // events in one batch request

	MaxIDBytes      = 1024 // id, source and type
	MaxSubjectBytes = 512
	MaxExtNameBytes = 20 // CloudEvents attribute names: [a-z0-9]{1,20}

	// ReservedTypePrefix starts the types of Ensue's own events. Clients may
	// not send them; Ensue emits them through New.
	ReservedTypePrefix = "ensue."
)

// Limits bound what one event may hold. Zero fields take the defaults.
type Limits struct {
	// MaxEventBytes bounds the size of the event's canonical JSON encoding
	// (default DefaultMaxEventBytes); an event over it is an *Error with
	// Status 413.
	MaxEventBytes int
	// MaxBatch bounds the events in one batch (default DefaultMaxBatch); a
	// batch over it fails as a whole, with Status 400.
	MaxBatch int
	// AllowReserved admits types starting with "ensue." (Ensue's own events).
	// It is false for client input.
	AllowReserved bool
}

func (l Limits) withDefaults() Limits {
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = DefaultMaxEventBytes
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = DefaultMaxBatch
	}
	return l
}

// Event is a validated CloudEvent. Its string fields are the attribute values
// as given ("" when absent); JSON is what the store keeps.
type Event struct {
	ID, Source, Type, Subject string
	// Time is as given (validated RFC 3339), "" if absent.
	Time            string
	DataContentType string
	DataSchema      string

	CorrelationID, CausationID, PartitionKey, TraceParent, TraceState string
	// Sequence is the `sequence` extension as text (JSON string or integer
	// accepted).
	Sequence string
	// ExpectedVersion is the optimistic-concurrency check the producer asks
	// for on the stream named by Subject; meaningful only when
	// HasExpectedVersion. It is never stored.
	ExpectedVersion    int64
	HasExpectedVersion bool

	// JSON is the canonical stored encoding: the CloudEvent in the CloudEvents
	// JSON format, compact, without the expectedversion extension. It is the
	// event's own memory: it aliases no pooled scratch memory or input.
	JSON []byte

	// dataAt is where the data value starts in JSON (it runs to the closing
	// brace), 0 when the event has no data or binary data.
	dataAt int32
}

// Data returns the event's data as JSON — a JSON string for text data —
// or nil when it has none or its data is binary (data_base64). It aliases
// JSON.
func (e *Event) Data() []byte {
	if e.dataAt <= 0 || int(e.dataAt) >= len(e.JSON) {
		return nil
	}
	return e.JSON[e.dataAt : len(e.JSON)-1]
}

// HasBinaryData reports whether the event carries data_base64.
func (e *Event) HasBinaryData() bool {
	return e.dataAt == 0 && bytes.Contains(e.JSON, []byte(`,"data_base64":"`))
}

// Attributes are the parts of an event for New. Empty strings are absent
// attributes.
type Attributes struct {
	ID, Source, Type, Subject string
	// Time is an RFC 3339 timestamp, e.g. time.Now().Format(time.RFC3339Nano).
	Time            string
	DataContentType string
	DataSchema      string

	CorrelationID, CausationID, PartitionKey, TraceParent, TraceState string
	Sequence                                                          string

	ExpectedVersion    int64
	HasExpectedVersion bool

	// Extensions are further extension attributes. Values are strings,
	// booleans, Go integer and float types or json.Number; nil values are
	// absent. They follow the named extensions in the canonical JSON, sorted
	// by name so that equal Attributes encode equally.
	Extensions map[string]any

	// Data is the event's data as JSON; empty (or JSON null) for none.
	Data json.RawMessage
	// DataBinary is data that is not JSON, carried as data_base64; empty for
	// none. At most one of Data and DataBinary may be set.
	DataBinary []byte
}

// ParseStructured parses a structured-mode event
// (application/cloudevents+json). The error, if any, is an *Error.
func ParseStructured(body []byte, lim Limits) (*Event, error) {
	ev, err := parseStructured(body, lim.withDefaults())
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// ParseBatch parses a batch (application/cloudevents-batch+json): a JSON array
// of events, each judged on its own. events and errs have one entry per
// element: events[i] is nil exactly when errs[i] (an *Error) is not. The third
// result is an *Error for the request as a whole (not a JSON array, malformed
// JSON, more than MaxBatch elements), with nil slices; an empty array is zero
// items and no error.
//
// The events of one batch share one allocation for their Event structs, so
// keeping any of them keeps all of their structs (not their JSON) alive.
func ParseBatch(body []byte, lim Limits) (events []*Event, errs []error, err error) {
	events, errs, e := parseBatch(body, lim.withDefaults())
	if e != nil {
		return nil, nil, e
	}
	return events, errs, nil
}

// ParseBinary parses a binary-mode event of the CloudEvents HTTP binding: the
// attributes are ce-* headers, Content-Type is datacontenttype and the body is
// the data. The error, if any, is an *Error.
func ParseBinary(h http.Header, body []byte, lim Limits) (*Event, error) {
	ev, err := parseBinary(h, body, lim.withDefaults())
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// IsBatchBody reports whether a JSON body (sent as plain application/json) is
// a batch rather than a single structured event, by its first non-space byte:
// '[' is a batch, anything else is taken as one event.
func IsBatchBody(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '['
	}
	return false
}

// New builds a valid Event from attribute values, as Ensue itself does to emit
// events (so reserved "ensue." types are allowed) and as tests do. It
// validates like ParseStructured and fills JSON. The error, if any, is an
// *Error.
func New(attrs Attributes) (*Event, error) {
	ev, err := newEvent(&attrs, Limits{AllowReserved: true}.withDefaults())
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// WithExtension returns a copy of e with one more extension attribute, a
// string, written after the others (as Ensue annotates what it stores).
// name must be a CloudEvents attribute name the event does not have.
func (e *Event) WithExtension(name, value string) (*Event, error) {
	if len(name) > MaxExtNameBytes || !validExtName([]byte(name)) {
		return nil, fmt.Errorf("event: %q is not an extension name ([a-z0-9]{1,20})", name)
	}
	if bytes.Contains(e.JSON, []byte(`,"`+name+`":`)) {
		return nil, fmt.Errorf("event: the event has an attribute %q already", name)
	}
	at := len(e.JSON) - 1
	switch {
	case e.dataAt > 0:
		at = int(e.dataAt) - len(`,"data":`)
	default:
		if i := bytes.Index(e.JSON, []byte(`,"data_base64":"`)); i > 0 {
			at = i
		}
	}
	ins := append([]byte(`,"`+name+`":`), appendString(nil, value)...)
	out := *e
	out.JSON = make([]byte, 0, len(e.JSON)+len(ins))
	out.JSON = append(append(append(out.JSON, e.JSON[:at]...), ins...), e.JSON[at:]...)
	if e.dataAt > 0 {
		out.dataAt = e.dataAt + int32(len(ins))
	}
	return &out, nil
}

// typeMember starts the type in an event's canonical JSON, which opens
// {"specversion":"1.0","id":…,"source":…,"type":…: its first occurrence is
// the attribute, since inside a JSON string a quote is always escaped.
var typeMember = []byte(`,"type":"`)

// IsReserved reports whether a stored event (its canonical JSON) is one of
// Ensue's own (type ensue.*), without parsing it.
func IsReserved(canonical []byte) bool {
	i := bytes.Index(canonical, typeMember)
	return i >= 0 && bytes.HasPrefix(canonical[i+len(typeMember):], []byte(ReservedTypePrefix))
}
