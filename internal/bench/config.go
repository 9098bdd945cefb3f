package bench

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"time"
)

// IngestConfig configures RunIngest. Zero fields take the defaults stated
// on each field; the defaults are the benchmark of issue 2.
type IngestConfig struct {
	// Repetitions of the whole sequence of phases; every phase runs once
	// per repetition, interleaved with the others, and medians are taken
	// over repetitions. Default 3.
	Repetitions int
	// Events published per repetition by the ceiling (a) and appended by
	// each batch phase (b, b'). Default 200,000.
	Events int
	// SingleEvents appended per repetition by the single-event phase (c),
	// one per request. Default 50,000.
	SingleEvents int
	// ReadEvents read per repetition by each read phase (global log, one
	// stream). Default: Events.
	ReadEvents int
	// BatchSize is the number of events per request in (b) and (b') and in
	// the RSS run. Default 100; at most 1000 (Ensue's batch limit).
	BatchSize int
	// Clients is the number of concurrent HTTP clients of (b), (b') and the
	// RSS run. Default 8.
	Clients int
	// SingleClients is the number of concurrent HTTP clients of (c).
	// Default 16.
	SingleClients int
	// Streams is the number of streams (CloudEvents subjects) the events of
	// (a), (b), (c) and the RSS run are spread over, uniformly at random
	// with a fixed seed. Default 10,000.
	Streams int
	// PayloadBytes is the size of each event's JSON encoding, padded in
	// its data. Default 512.
	PayloadBytes int
	// ReadPageSize is the limit of each read request. Default 1000 (the
	// API's maximum).
	ReadPageSize int
	// RSSEvents is the number of events appended before the server's
	// resident memory is read. Default 1,000,000; negative skips the RSS run.
	RSSEvents int
	// Namespace the events go to (Ensue-Namespace header). Default "bench".
	// The schema phases use "<Namespace>-noschema" and "<Namespace>-schema".
	Namespace string
	// NoSchemaPhases skips the schema phases (s0, s), which append (b)'s
	// workload with order-shaped data to a namespace that validates nothing
	// and to one that enforces a schema, to measure what validation costs.
	// Default false: they run.
	NoSchemaPhases bool
	// ServerURL, when set, benchmarks the Ensue server at that base URL
	// (e.g. http://127.0.0.1:7600) instead of starting one in this process.
	// Its RSS is then read from its /metrics (process_resident_memory_bytes),
	// after RSSEvents more events; it should be started with an empty data
	// directory for the figure to mean "after RSSEvents events".
	//
	// By default an in-process server is started on 127.0.0.1:0 with a
	// temporary data directory and the embedded JetStream (sync every
	// second), and a fresh one for the RSS run.
	ServerURL string
	// ServerCommand, when set, runs the Ensue server as a child process:
	// the command and its arguments, to which the bench appends
	// `--addr 127.0.0.1:0 --data DIR`; the server must print its URL
	// (http://127.0.0.1:PORT) on its standard output, as `ensue serve` does.
	// E.g. {os.Args[0], "serve"}. The server's RSS and CPU are then its own,
	// not shared with the bench client. A fresh one runs the RSS run.
	ServerCommand []string
	// CeilingMaxPending bounds the ceiling's in-flight async publishes
	// (nats.go's PublishAsyncMaxPending). Default 8192, as Ensue's log.
	CeilingMaxPending int
	// Settle is the least time the server rests before each phase, after
	// which the bench also waits for its CPU to go idle, so that background
	// work (the indexer catching up, JetStream's flushes) is not billed to
	// the next phase. Default 1.1s, longer than one sync interval.
	Settle time.Duration
	// HeapProfile, when set, is a file the bench writes a heap profile of
	// this process to at the end of the RSS run (after a GC), to see what
	// the in-process server's memory holds. In-process server only.
	HeapProfile string
	// Progress receives one line per phase as it runs (stderr in the
	// CLI). Default: no progress.
	Progress io.Writer
}

func (c *IngestConfig) setDefaults() {
	defaultInt(&c.Repetitions, 3)
	defaultInt(&c.Events, 200_000)
	defaultInt(&c.SingleEvents, 50_000)
	defaultInt(&c.ReadEvents, c.Events)
	defaultInt(&c.BatchSize, 100)
	defaultInt(&c.Clients, 8)
	defaultInt(&c.SingleClients, 16)
	defaultInt(&c.Streams, 10_000)
	defaultInt(&c.PayloadBytes, 512)
	defaultInt(&c.ReadPageSize, 1000)
	defaultInt(&c.RSSEvents, 1_000_000)
	defaultInt(&c.CeilingMaxPending, 8192)
	if c.Settle == 0 {
		c.Settle = 1100 * time.Millisecond
	}
	if c.Namespace == "" {
		c.Namespace = "bench"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

var namespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (c *IngestConfig) validate() error {
	var errs []error
	positive := func(name string, v int) { errs = atLeastOne(errs, name, v) }
	positive("repetitions", c.Repetitions)
	positive("events", c.Events)
	positive("single events", c.SingleEvents)
	positive("read events", c.ReadEvents)
	positive("clients", c.Clients)
	positive("single clients", c.SingleClients)
	positive("streams", c.Streams)
	positive("ceiling max pending", c.CeilingMaxPending)
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("settle must not be negative, got %s", c.Settle))
	}
	if c.BatchSize < 1 || c.BatchSize > 1000 {
		errs = append(errs, fmt.Errorf("batch size must be between 1 and 1000 (Ensue's batch limit), got %d", c.BatchSize))
	}
	if c.ReadPageSize < 1 || c.ReadPageSize > 1000 {
		errs = append(errs, fmt.Errorf("read page size must be between 1 and 1000 (the API's limit), got %d", c.ReadPageSize))
	}
	if min := minPayloadBytes(c); c.PayloadBytes < min || c.PayloadBytes > 512<<10 {
		errs = append(errs, fmt.Errorf("payload bytes must be between %d (the smallest bench event) and %d, got %d", min, 512<<10, c.PayloadBytes))
	}
	if !namespaceRE.MatchString(c.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q is not a namespace: use 1 to 63 lowercase letters, digits and '-'", c.Namespace))
	} else if longest := len(c.Namespace + noSchemaSuffix); !c.NoSchemaPhases && longest > 63 {
		errs = append(errs, fmt.Errorf("namespace %q is too long for the schema phases' namespace %q (%d characters, at most 63): shorten it or skip the schema phases", c.Namespace, c.Namespace+noSchemaSuffix, longest))
	}
	if c.ServerURL != "" {
		u, err := url.Parse(c.ServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("server URL %q is not an http(s) base URL such as http://127.0.0.1:7600", c.ServerURL))
		}
	}
	if c.ServerURL != "" && len(c.ServerCommand) > 0 {
		errs = append(errs, errors.New("a server URL and a server command exclude each other: benchmark a running server or start one, not both"))
	}
	if len(c.ServerCommand) > 0 && c.ServerCommand[0] == "" {
		errs = append(errs, errors.New("the server command has no program"))
	}
	if c.HeapProfile != "" && (c.ServerURL != "" || len(c.ServerCommand) > 0) {
		errs = append(errs, errors.New("a heap profile needs the server in this process: drop the server URL or command"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench: %w", errors.Join(errs...))
	}
	return nil
}

// defaultInt sets *v to d when it is zero.
func defaultInt(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

// atLeastOne appends to errs an error naming the setting name when v is
// less than 1.
func atLeastOne(errs []error, name string, v int) []error {
	if v < 1 {
		return append(errs, fmt.Errorf("%s must be at least 1, got %d", name, v))
	}
	return errs
}
