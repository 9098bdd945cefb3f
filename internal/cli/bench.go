package cli

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/internal/bench"
)

// newBenchCommand builds `ensue bench`, the benchmarks run on demand.
func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Ensue on this machine (run on demand, takes minutes)",
	}
	cmd.AddCommand(newBenchIngestCommand(), newBenchFlowsCommand(), newBenchProjectionsCommand())
	return cmd
}

func newBenchIngestCommand() *cobra.Command {
	cfg := bench.IngestConfig{}
	var inProcess bool
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Ingest throughput and latency against the raw JetStream ceiling, reads, and RSS",
		Long: `Measure ingest in one run, several repetitions interleaved, medians reported:

  (a)  the ceiling: raw JetStream async publish of the same ~512 B events
  (b)  HTTP batches of 100 from 8 clients over 10,000 streams
  (s0) (b) with order-shaped events, to a namespace that validates nothing
  (s)  the same, to a namespace that enforces a realistic order schema
  (b') HTTP batches of 100 to one stream
  (c)  single-event HTTP appends from 16 clients (events/s, p50/p99)

then read throughput (global log, one stream) and the server's RSS after
1,000,000 events. The lines containing "ratio" give b/a paired per
repetition, and s/s0, what schema validation costs (--no-schema-phases
skips s0 and s). By default the server runs as a child process (this binary's
serve command) so that its RSS and CPU are its own; see bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if cfg.ServerCommand, err = childServer(inProcess, cfg.ServerURL); err != nil {
				return err
			}
			cfg.Progress = cmd.ErrOrStderr()
			return bench.RunIngest(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addBenchFlags(cmd, cfg.AddFlags, &inProcess)
	return cmd
}

func newBenchFlowsCommand() *cobra.Command {
	cfg := bench.FlowsConfig{}
	var inProcess bool
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Flow trigger latency and run throughput with 1 and 10,000 flows, against the raw JetStream ceiling",
		Long: `Measure flows in one run:

  (a)      the ceiling: raw JetStream async publish (the ingest bench's (a))
  latency  single events at --rate for --duration to a flow whose HTTP step
           calls a sink in this process: append answered → sink called,
           p50/p99/max; an event with no call 10s after the end fails the run
  1 flow   --events events in batches of 100 from 8 clients to a flow with
           one emit step: ingest events/s and runs completed/s
  many     the same with --flows flows applied (one of which matches)

The lines containing "ratio" compare with (a) and 10,000 flows with 1. By
default the server runs as a child process (this binary's serve command);
see bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if cfg.ServerCommand, err = childServer(inProcess, cfg.ServerURL); err != nil {
				return err
			}
			cfg.Progress = cmd.ErrOrStderr()
			return bench.RunFlows(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addBenchFlags(cmd, cfg.AddFlags, &inProcess)
	return cmd
}

func newBenchProjectionsCommand() *cobra.Command {
	cfg := bench.ProjectionsConfig{}
	var inProcess bool
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "Projection apply rate while ingesting, rebuild rate, and query latency, against the raw JetStream ceiling",
		Long: `Measure projections in one run, with an orders projection (key
event.subject, three reducers, an index on status):

  (a)      the ceiling: raw JetStream async publish (the ingest bench's (a))
  apply    --events order events in batches of 100 from 8 clients while the
           projection applies them: ingest events/s, applied events/s (until
           the status's position reaches the last append), lag
  queries  --queries GET document of random keys and POST query of the
           indexed filter doc.status == "shipped" (limit 100) from 4
           clients: p50/p99
  rebuild  the log filled to --rebuild-events events (untimed), then POST
           rebuild until the new generation runs: events/s

The lines containing "ratio" compare with (a). By default the server runs as
a child process (this binary's serve command); see bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if cfg.ServerCommand, err = childServer(inProcess, cfg.ServerURL); err != nil {
				return err
			}
			cfg.Progress = cmd.ErrOrStderr()
			return bench.RunProjections(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addBenchFlags(cmd, cfg.AddFlags, &inProcess)
	return cmd
}

// childServer is the command that runs a bench's server as a child
// process, this program's serve; none when the server runs in the bench's
// process or is reached at a URL.
func childServer(inProcess bool, serverURL string) ([]string, error) {
	if inProcess || serverURL != "" {
		return nil, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to run the server: %w", err)
	}
	return []string{exe, "serve", "--log-level", "warn"}, nil
}

// addBenchFlags adds a bench config's flags (its AddFlags) and
// --in-process to cmd.
func addBenchFlags(cmd *cobra.Command, add func(*flag.FlagSet), inProcess *bool) {
	fs := flag.NewFlagSet(cmd.Name(), flag.ContinueOnError)
	add(fs)
	cmd.Flags().AddGoFlagSet(fs)
	cmd.Flags().BoolVar(inProcess, "in-process", false, "run the server inside the benchmark's process instead of a child process")
}
