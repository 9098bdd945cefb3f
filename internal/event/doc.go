// Package event owns Ensue's CloudEvents 1.0 envelope: it turns the three
// HTTP shapes of an event (structured JSON, JSON batch, binary with ce-*
// headers) into validated Events, and it defines the canonical JSON encoding
// that the store keeps for each one.
//
// Everything an event carries passes through here before Ensue stores or acts
// on it, so the package is strict: it reports every problem it finds in an
// event at once, each located by a JSON pointer, and it never stores bytes it
// has not checked.
//
// It sits on the ingest hot path. One pass over a body checks it against
// RFC 8259 (with byte offsets in its errors and a nesting limit) and records
// where the top-level members of each event are; attributes are decoded from
// those spans, data is copied as the checked text, and the canonical JSON is
// built by appending bytes into pooled scratch memory. A valid event costs
// three allocations: the Event, its JSON and its attribute strings.
//
// fastjson, Ensue's JSON parser elsewhere, is deliberately not used here: it
// accepts text that is not JSON (NaN, unknown escapes, raw control
// characters), its errors carry no offset, and the tree it builds for the
// data is work an envelope never needs; a strict pass had to run anyway, and
// dropping fastjson's second pass cut the CPU per event by about a quarter
// (BenchmarkParseStructured, BenchmarkParseBatch).
//
// It imports only the standard library, and nothing else in Ensue.
package event
