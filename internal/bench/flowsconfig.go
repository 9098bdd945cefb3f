package bench

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// FlowsConfig configures RunFlows. Zero fields take the defaults stated on
// each field.
type FlowsConfig struct {
	// Repetitions of the whole sequence of phases; medians are taken over
	// them. Each repetition uses namespaces of its own, so the flows of
	// earlier repetitions stay applied (in other namespaces). Default 1.
	Repetitions int
	// Rate of the trigger-latency phase, in single events per second.
	// Default 200.
	Rate int
	// Duration of the trigger-latency phase. Default 10s.
	Duration time.Duration
	// LostAfter is how long after the latency phase's last append the sink
	// may still receive its calls; an event without one by then fails the
	// bench. Default 10s.
	LostAfter time.Duration
	// Events appended by each throughput phase (1 flow, Flows flows).
	// Default 20,000.
	Events int
	// Flows applied for the second throughput phase; exactly one of them
	// matches its events. Default 10,000.
	Flows int
	// LoadConfig: the ceiling (CeilingEvents per repetition), the batch
	// phases' load (BatchSize, Clients: also the latency phase's sender and
	// the flows' application) and the server. Each phase of each repetition
	// has a namespace of its own, "<Namespace>-<phase>-<repetition>".
	LoadConfig
}

func (c *FlowsConfig) setDefaults() {
	c.LoadConfig.setDefaults()
	defaultInt(&c.Repetitions, 1)
	defaultInt(&c.Rate, 200)
	defaultInt(&c.Events, 20_000)
	defaultInt(&c.Flows, 10_000)
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.LostAfter == 0 {
		c.LostAfter = 10 * time.Second
	}
}

// ingest is the IngestConfig whose machinery (server start modes,
// ceiling, settling, events) the flows bench reuses.
func (c *FlowsConfig) ingest() IngestConfig { return c.LoadConfig.ingest(c.Repetitions, 0) }

// flowsNamespaceRoom is what the bench appends to Namespace.
const flowsNamespaceRoom = len("-many-999")

func (c *FlowsConfig) validate() error {
	var errs []error
	positive := func(name string, v int) { errs = atLeastOne(errs, name, v) }
	positive("repetitions", c.Repetitions)
	positive("ceiling events", c.CeilingEvents)
	positive("rate", c.Rate)
	positive("events", c.Events)
	positive("flows", c.Flows)
	if c.Repetitions > 999 {
		errs = append(errs, fmt.Errorf("repetitions must be at most 999, got %d", c.Repetitions))
	}
	if c.Duration < time.Millisecond {
		errs = append(errs, fmt.Errorf("duration must be at least 1ms, got %s", c.Duration))
	}
	if c.LostAfter < 0 {
		errs = append(errs, fmt.Errorf("lost-after must not be negative, got %s", c.LostAfter))
	}
	if len(c.Namespace) > 63-flowsNamespaceRoom {
		errs = append(errs, fmt.Errorf("namespace %q is too long: the bench appends up to %d characters to it, and a namespace has at most 63", c.Namespace, flowsNamespaceRoom))
	}
	ic := c.ingest()
	if err := ic.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench flows: %w", errors.Join(errs...))
	}
	return nil
}

// AddFlags defines a flag for every field of c on fs, with c's current
// values as the flags' defaults (zero: the documented default). The CLI
// adds them to `ensue bench flows`.
func (c *FlowsConfig) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Repetitions, "repetitions", c.Repetitions, "repetitions of every phase; medians are over them (0: 1)")
	fs.IntVar(&c.Rate, "rate", c.Rate, "single events per second of the trigger-latency phase (0: 200)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the trigger-latency phase (0: 10s)")
	fs.DurationVar(&c.LostAfter, "lost-after", c.LostAfter, "an event of the latency phase whose sink call has not come this long after the last append is lost (0: 10s)")
	fs.IntVar(&c.Events, "events", c.Events, "events of each throughput phase (0: 20000)")
	fs.IntVar(&c.Flows, "flows", c.Flows, "flows applied for the second throughput phase, one of which matches (0: 10000)")
	c.addFlags(fs, "concurrent HTTP clients of the throughput phases and of applying flows (0: 8)", "prefix of the bench's namespaces (empty: bench)")
}
