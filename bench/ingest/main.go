// Command ingest runs Ensue's ingest benchmark (internal/bench.RunIngest)
// until `ensue bench ingest` is wired into the CLI:
//
//	go run ./bench/ingest                        # the full run, a few minutes
//	go run ./bench/ingest -rss-events 200000 -repetitions 5
//	go run ./bench/ingest -server-process        # the server in a child process
//
// The report goes to stdout, progress to stderr. See bench/README.md.
//
// `ingest serve --addr A --data D` runs a bare Ensue server (the defaults of
// `ensue serve`); -server-process re-executes this program that way.
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		err = bench.Serve(ctx, os.Args[2:], os.Stdout)
	} else {
		err = run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench ingest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg := bench.IngestConfig{Progress: os.Stderr}
	cfg.AddFlags(flag.CommandLine)
	child := flag.Bool("server-process", false, "run the server as a child process (this program's serve mode), so that its RSS is its own")
	flag.Parse()
	if *child {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.ServerCommand = []string{exe, "serve"}
	}
	return bench.RunIngest(ctx, cfg, os.Stdout)
}
