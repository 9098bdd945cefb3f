// Package projection owns projections, Ensue's read models (the query side
// of CQRS): a projection folds the events of the log into documents, one per
// key, that the API can read and query by their indexed fields.
//
// It owns three things:
//
//   - Definitions (definition.go): parsing a projection document from YAML
//     or JSON with every problem positioned (a *flow.Error, as for flows),
//     validating it, and its canonical form and hash, which storage keeps
//     and compares to know when a projection must be rebuilt.
//   - Reducers (reducer.go): the pure core. Compile type-checks a
//     definition's CEL; a Reducer tells which document an event updates
//     (Key) and folds the event into that document's state (Apply). Fold is
//     the reference fold of a whole history, which the engine's incremental
//     updates must equal.
//   - The engine, written beside them: it follows the event log and keeps
//     every projection's documents, checkpoints and indexes in a derived
//     Pebble store, which can be deleted and rebuilt from the log.
//
// # Definitions
//
//	kind: projection          # optional: key without steps is a projection
//	name: orders              # the flows' name rule
//	key: event.subject        # CEL: the document's id; "" or null skips the event
//	initial: '{"status": "new", "items": 0}'   # CEL: a map; default {}
//	on:                       # event type (exact, or a glob with *) -> CEL
//	  order.placed: 'state.with({"status": "placed", "total": event.data.total})'
//	  order.item_added: 'state.with({"items": state.items + 1})'
//	indexes: [status]         # top-level state fields to index
//
// An event is handled by the `on` entry of its exact type, else by the
// most specific matching glob (the longest; equal lengths in text order).
//
// # Expressions
//
// The CEL of flows (the standard library, ext.Strings, ext.Encoders,
// optional values), with:
//
//   - event: exactly what a flow sees (flow.NewInput): attributes as
//     strings, data decoded from JSON with integral numbers as int and
//     others as double. key and the `on` entries see it; initial does not,
//     since it is evaluated once, at Compile.
//   - state (the `on` entries only): map(string, dyn), the document's
//     current state, decoded by the same rule as event data.
//   - state.with(m): state with the entries of m set. The merge is shallow:
//     a map value in m replaces the one in state rather than being merged
//     into it (write state.with({"a": state.a.with({...})}) to go deeper).
//   - state.get(key, default): the value at key, or default without it.
//
// An `on` entry produces the document's whole new state, a map with string
// keys; states are stored as canonical JSON (sorted keys, compact), so equal
// states are equal bytes. Integral numbers stay ints through the fold
// (`state.items + 1` gives 1, not 1.0) and doubles stay doubles (written
// 13.0, not 13, so that they read back as doubles). Each evaluation is
// bounded by a cost limit and each state by MaxStateSize.
//
// # Imports
//
// Definitions and reducers import the standard library, cel.dev/cel-go,
// github.com/goccy/go-yaml and internal/flow (its file parsing, positioned
// errors, event input and CEL-to-JSON conversion, so that a projection reads
// events and writes values exactly as a flow does). The engine adds the
// event log it follows (internal/eventlog) and its store
// (github.com/cockroachdb/pebble/v2). Nothing here imports the API, the
// runtime or the server: they import this package.
package projection
