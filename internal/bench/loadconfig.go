package bench

import (
	"flag"
	"io"
	"time"
)

// LoadConfig holds the settings the flows and projections benches share
// with the ingest bench: the ceiling, the load generator and the server.
// Zero fields take the defaults stated on each field.
type LoadConfig struct {
	// CeilingEvents published by the ceiling (a), the ingest bench's
	// phase (a). Default 100,000: fewer makes a run too short to time.
	CeilingEvents int
	// BatchSize is the number of events per request of the batch phases.
	// Default 100; at most 1000 (Ensue's batch limit).
	BatchSize int
	// Clients is the number of concurrent HTTP clients of the batch
	// phases (and of what else the bench says). Default 8.
	Clients int
	// PayloadBytes is the size of each event's JSON encoding, padded in its
	// data (the ceiling's as well). Default 512.
	PayloadBytes int
	// Namespace is the prefix of the namespaces the bench uses. Default
	// "bench".
	Namespace string
	// ServerURL, ServerCommand and CeilingMaxPending are those of
	// IngestConfig.
	ServerURL         string
	ServerCommand     []string
	CeilingMaxPending int
	// Settle is the least time the server rests before each phase (see
	// IngestConfig.Settle). Default 1.1s.
	Settle time.Duration
	// Progress receives progress lines (stderr in the CLI). Default: none.
	Progress io.Writer
}

// setDefaults takes the ingest bench's defaults, but for CeilingEvents.
func (c *LoadConfig) setDefaults() {
	defaultInt(&c.CeilingEvents, 100_000)
	ic := c.ingest(1, 0)
	c.BatchSize, c.Clients, c.PayloadBytes, c.Namespace = ic.BatchSize, ic.Clients, ic.PayloadBytes, ic.Namespace
	c.CeilingMaxPending, c.Settle, c.Progress = ic.CeilingMaxPending, ic.Settle, ic.Progress
}

// ingest is the IngestConfig whose machinery (server start modes,
// ceiling, settling, events) a bench reuses, with the ceiling's events
// spread over streams streams (0: the ingest bench's default).
func (c *LoadConfig) ingest(repetitions, streams int) IngestConfig {
	ic := IngestConfig{
		Repetitions:       repetitions,
		Events:            c.CeilingEvents,
		BatchSize:         c.BatchSize,
		Clients:           c.Clients,
		Streams:           streams,
		PayloadBytes:      c.PayloadBytes,
		Namespace:         c.Namespace,
		NoSchemaPhases:    true,
		ServerURL:         c.ServerURL,
		ServerCommand:     c.ServerCommand,
		CeilingMaxPending: c.CeilingMaxPending,
		Settle:            c.Settle,
		Progress:          c.Progress,
		RSSEvents:         -1,
	}
	ic.setDefaults()
	return ic
}

// addFlags defines the flags of c's fields on fs; clients and namespace
// are the usage of --clients and --namespace, which differ by bench.
func (c *LoadConfig) addFlags(fs *flag.FlagSet, clients, namespace string) {
	fs.IntVar(&c.CeilingEvents, "ceiling-events", c.CeilingEvents, "events of the ceiling (a) (0: 100000)")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "events per append request of the batch phases, at most 1000 (0: 100)")
	fs.IntVar(&c.Clients, "clients", c.Clients, clients)
	fs.IntVar(&c.PayloadBytes, "payload-bytes", c.PayloadBytes, "size of each event's JSON (0: 512)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, namespace)
	fs.StringVar(&c.ServerURL, "server", c.ServerURL, "benchmark the Ensue server at this URL instead of starting one")
	fs.DurationVar(&c.Settle, "settle", c.Settle, "least rest of the server before each phase (0: 1.1s)")
	fs.IntVar(&c.CeilingMaxPending, "ceiling-max-pending", c.CeilingMaxPending, "in-flight async publishes of the ceiling (0: 8192)")
}
