// Package flow owns flow definitions: parsing them from YAML or JSON files
// with positioned errors, validating them, compiling their CEL expressions,
// matching events against their triggers (one flow with Compiled.Matches and
// Explain, many with Matcher) and evaluating the expressions of their steps.
// It does not run flows: the runtime calls it to learn which flows an event
// starts and what each step sends.
//
// It may import the standard library, cel.dev/cel-go and
// github.com/goccy/go-yaml, and nothing else of Ensue, so that the API, the
// CLI and the runtime can all use it to check a definition the same way.
//
// # Files
//
// A file holds one or more YAML documents (separated by ---); JSON is read by
// the same parser, so errors in either carry line and column. A document is a
// flow (kind: flow, or steps without kind), or a projection (kind:
// projection, or key without steps) that is identified and kept raw for its
// own package. YAML aliases and merge keys are refused: expanding them is how
// a small file becomes a huge document, and a flow is short enough to repeat
// a value.
//
// # Expressions
//
// on.when, http.body, emit.data and emit.subject are CEL. Variables:
//
//   - event: map(string, dyn). Every CloudEvents attribute and extension as a
//     string (subject, time, datacontenttype and dataschema are "" when
//     absent), and data decoded from JSON: integral numbers are int, others
//     double; CEL compares the two by value, so event.data.total > 1000 holds
//     for 1000.5 and for 1001. Binary data (data_base64 that is not JSON) is
//     bytes.
//   - steps: map(string, dyn), {"<id>": {"output": ...}} of the steps before
//     this one. A reference to a later or unknown step is a compile error;
//     on.when cannot use steps at all.
//
// Functions: the CEL standard library, ext.Strings (charAt, indexOf, lowerAscii,
// replace, split, substring, trim, upperAscii, join, format, quote, ...),
// ext.Encoders (base64.encode, base64.decode) and optional values (event.?data.x,
// orValue). No function reads the clock or anything else outside the event,
// so a step evaluates the same way when a run is resumed.
//
// on.when must produce a bool; body and data a value JSON can hold (maps
// with string keys, lists, strings, numbers, bools, null; bytes become
// base64, timestamps RFC 3339, durations Go strings); subject a string.
// Each evaluation is bounded by a cost limit so that one expression cannot
// stall the engine.
package flow
