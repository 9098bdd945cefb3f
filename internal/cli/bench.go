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
	cmd.AddCommand(newBenchIngestCommand())
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
  (b') HTTP batches of 100 to one stream
  (c)  single-event HTTP appends from 16 clients (events/s, p50/p99)

then read throughput (global log, one stream) and the server's RSS after
1,000,000 events. The line containing "ratio" gives b/a paired per
repetition. By default the server runs as a child process (this binary's
serve command) so that its RSS and CPU are its own; see bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !inProcess && cfg.ServerURL == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("find this program to run the server: %w", err)
				}
				cfg.ServerCommand = []string{exe, "serve", "--log-level", "warn"}
			}
			cfg.Progress = cmd.ErrOrStderr()
			return bench.RunIngest(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	cfg.AddFlags(fs)
	cmd.Flags().AddGoFlagSet(fs)
	cmd.Flags().BoolVar(&inProcess, "in-process", false, "run the server inside the benchmark's process instead of a child process")
	return cmd
}
