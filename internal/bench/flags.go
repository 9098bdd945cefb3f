package bench

import "flag"

// AddFlags defines a flag for every field of c on fs, with c's current
// values as the flags' defaults (zero: the documented default). The CLI
// adds them to `ensue bench ingest` (pflag's AddGoFlagSet).
func (c *IngestConfig) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Repetitions, "repetitions", c.Repetitions, "repetitions of every phase, interleaved; medians are over them (0: 3)")
	fs.IntVar(&c.Events, "events", c.Events, "events per repetition of the ceiling (a) and of each batch phase (b, b') (0: 200000)")
	fs.IntVar(&c.SingleEvents, "single-events", c.SingleEvents, "events per repetition of the single-event phase (c) (0: 50000)")
	fs.IntVar(&c.ReadEvents, "read-events", c.ReadEvents, "events read per repetition by each read phase (0: --events)")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "events per request in (b), (b') and the RSS run, at most 1000 (0: 100)")
	fs.IntVar(&c.Clients, "clients", c.Clients, "concurrent HTTP clients of (b), (b') and the RSS run (0: 8)")
	fs.IntVar(&c.SingleClients, "single-clients", c.SingleClients, "concurrent HTTP clients of (c) (0: 16)")
	fs.IntVar(&c.Streams, "streams", c.Streams, "streams the events of (a), (b), (c) and the RSS run are spread over (0: 10000)")
	fs.IntVar(&c.PayloadBytes, "payload-bytes", c.PayloadBytes, "size of each event's JSON (0: 512)")
	fs.IntVar(&c.ReadPageSize, "read-page-size", c.ReadPageSize, "limit of each read request, at most 1000 (0: 1000)")
	fs.IntVar(&c.RSSEvents, "rss-events", c.RSSEvents, "events appended before the server's RSS is read; negative skips the RSS run (0: 1000000)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "namespace of the bench's events; the schema phases use <namespace>-noschema and <namespace>-schema (empty: bench)")
	fs.BoolVar(&c.NoSchemaPhases, "no-schema-phases", c.NoSchemaPhases, "skip the schema phases (s0, s), which measure what validating events against a schema costs")
	fs.StringVar(&c.ServerURL, "server", c.ServerURL, "benchmark the Ensue server at this URL instead of one started in this process")
	fs.DurationVar(&c.Settle, "settle", c.Settle, "least rest of the server before each phase (0: 1.1s)")
	fs.StringVar(&c.HeapProfile, "heap-profile", c.HeapProfile, "write a heap profile of the in-process server to this file at the end of the RSS run")
	fs.IntVar(&c.CeilingMaxPending, "ceiling-max-pending", c.CeilingMaxPending, "in-flight async publishes of the ceiling (0: 8192)")
}
