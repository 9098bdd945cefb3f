// Package bench measures Ensue's ingest against the raw JetStream ceiling
// it is built on, in one run on one machine, so that the ratio between the
// two is meaningful where absolute figures are not.
//
// RunIngest is `ensue bench ingest`: it runs, in each of several
// repetitions, the ceiling (nats.go jetstream PublishAsync into a file
// stream of an embedded server), Ensue's HTTP ingest in batches spread over
// many streams and into one stream, the same batches of orders with and
// without schema validation, single-event appends with their
// latency, and paged reads; then it measures the server's resident memory
// after a long run. It prints every figure per repetition, the medians and
// the paired ratios (each repetition's Ensue figure over the same
// repetition's ceiling).
//
// RunFlows (`ensue bench flows`) and RunProjections (`ensue bench
// projections`) reuse that machinery (server modes, the ceiling, settling,
// noise reporting, the report table) for the flow runtime and for
// projections: apply rate while ingesting, query latency, rebuild rate.
//
// The Benchmark functions in this package's tests measure the same paths
// with `go test -bench`, for profiling.
//
// It may import server, eventlog (to run the ceiling's embedded server),
// nats.go and the standard library; it talks to Ensue only over HTTP. Its
// tests also import schema, to hold the bench's orders to the schema it
// registers.
package bench
