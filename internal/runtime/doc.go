// Package runtime runs flows: it follows the log, keeps the flows applied in
// each namespace, starts a run for every event a flow's trigger matches,
// executes the run's steps (HTTP calls, emitted events) with retries, and
// records every step of progress in the log itself as ensue.* events.
//
// The log is the source of truth, for flows and runs alike:
//
//   - Applying, deleting, enabling or disabling a flow appends an
//     ensue.flow.* event to the stream "ensue.flow/<name>" of its namespace.
//     The engine reads the log in order, so a flow is active exactly for
//     the events after its own, and never for those before it.
//   - A run's id derives from its flow and the position of the event that
//     triggered it, and every event recording its progress (ensue.run.*)
//     has an id derived from the run, so recording twice is stored once.
//     An emitted event is its own success record: its id derives from the
//     run and the step, so emitting it again is deduplicated.
//
// What the engine derives from the log — the flows, the runs and their
// state, its checkpoint — it keeps in a local Pebble store, written in one
// batch with the checkpoint so that applying the log is exactly-once.
// Delete that store and it is rebuilt from the log; runs that the log shows
// finished are not run again.
//
// Executors start only once the engine has caught up with the log as it
// was at start, so a run resumes after the last step the log records.
//
// It may import event, eventlog, store, flow, webhook, clock, the standard
// library, Pebble, nats.go (for secrets in a KV bucket) and the Prometheus
// client.
package runtime
