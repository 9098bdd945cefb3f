// Package event owns Ensue's CloudEvents 1.0 envelope: it turns the three
// HTTP shapes of an event (structured JSON, JSON batch, binary with ce-*
// headers) into validated Events, and it defines the canonical JSON encoding
// that the store keeps for each one.
//
// Everything an event carries passes through here before Ensue stores or acts
// on it, so the package is strict: it reports every problem it finds in an
// event at once, each located by a JSON pointer, and it never stores bytes it
// has not checked. It sits on the ingest hot path, so it parses with fastjson,
// pools its scratch memory and builds the canonical JSON by appending bytes.
//
// It imports only the standard library and fastjson, and nothing else in Ensue.
package event
