package bench

import (
	"errors"
	"flag"
	"fmt"
)

// ProjectionsConfig configures RunProjections. Zero fields take the
// defaults stated on each field.
type ProjectionsConfig struct {
	// Events appended by the apply phase, while the orders projection
	// applies them. Default 200,000.
	Events int
	// Orders is the number of order subjects (the projection's keys) the
	// events are spread over. Default 10,000.
	Orders int
	// RebuildEvents is how many events the log holds when the projection
	// is rebuilt: the bench appends orders until it does. Default
	// 1,000,000; negative skips the rebuild.
	RebuildEvents int
	// Queries is the number of requests of each query-latency phase (get
	// a document, indexed filter). Default 5,000.
	Queries int
	// QueryClients is the number of concurrent clients of the query
	// phases. Default 4.
	QueryClients int
	// LoadConfig: the ceiling, the appends' load and the server. The
	// bench's namespace is "<Namespace>-projections".
	LoadConfig
}

// projNamespaceSuffix is what the bench appends to Namespace.
const projNamespaceSuffix = "-projections"

func (c *ProjectionsConfig) setDefaults() {
	c.LoadConfig.setDefaults()
	defaultInt(&c.Events, 200_000)
	defaultInt(&c.Orders, 10_000)
	defaultInt(&c.RebuildEvents, 1_000_000)
	defaultInt(&c.Queries, 5_000)
	defaultInt(&c.QueryClients, 4)
}

// ingest is the IngestConfig whose machinery the projections bench
// reuses; the ceiling spreads its events over as many subjects as there
// are orders.
func (c *ProjectionsConfig) ingest() IngestConfig { return c.LoadConfig.ingest(1, c.Orders) }

func (c *ProjectionsConfig) validate() error {
	var errs []error
	positive := func(name string, v int) { errs = atLeastOne(errs, name, v) }
	positive("ceiling events", c.CeilingEvents)
	positive("events", c.Events)
	positive("orders", c.Orders)
	positive("queries", c.Queries)
	positive("query clients", c.QueryClients)
	if len(c.Namespace) > 63-len(projNamespaceSuffix) {
		errs = append(errs, fmt.Errorf("namespace %q is too long: the bench appends %q to it, and a namespace has at most 63 characters", c.Namespace, projNamespaceSuffix))
	}
	if least := c.minEventBytes(); c.PayloadBytes < least {
		errs = append(errs, fmt.Errorf("payload bytes must be at least %d (the largest order event with no padding), got %d", least, c.PayloadBytes))
	}
	ic := c.ingest()
	if err := ic.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench projections: %w", errors.Join(errs...))
	}
	return nil
}

// AddFlags defines a flag for every field of c on fs, with c's current
// values as the flags' defaults (zero: the documented default). The CLI
// adds them to `ensue bench projections`.
func (c *ProjectionsConfig) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Events, "events", c.Events, "events appended while the projection applies them (0: 200000)")
	fs.IntVar(&c.Orders, "orders", c.Orders, "order subjects (projection keys) the events are spread over (0: 10000)")
	fs.IntVar(&c.RebuildEvents, "rebuild-events", c.RebuildEvents, "events the log holds when the projection is rebuilt, appended first as needed; negative skips the rebuild (0: 1000000)")
	fs.IntVar(&c.Queries, "queries", c.Queries, "requests of each query-latency phase (0: 5000)")
	fs.IntVar(&c.QueryClients, "query-clients", c.QueryClients, "concurrent clients of the query phases (0: 4)")
	c.addFlags(fs, "concurrent append clients (0: 8)", "prefix of the bench's namespace, <namespace>-projections (empty: bench)")
}
