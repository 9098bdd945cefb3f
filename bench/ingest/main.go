// Command ingest runs Ensue's ingest benchmark (internal/bench.RunIngest)
// until `ensue bench ingest` is wired into the CLI:
//
//	go run ./bench/ingest                  # the full run, a few minutes
//	go run ./bench/ingest -rss-events 200000 -repetitions 5
//
// The report goes to stdout, progress to stderr. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ensue-dev/ensue/internal/bench"
)

func main() {
	cfg := bench.IngestConfig{Progress: os.Stderr}
	cfg.AddFlags(flag.CommandLine)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.RunIngest(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench ingest:", err)
		os.Exit(1)
	}
}
