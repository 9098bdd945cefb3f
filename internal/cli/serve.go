package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/internal/server"
)

// envOr returns the environment variable's value, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// newServeCommand builds `ensue serve`.
func newServeCommand() *cobra.Command {
	var cfg server.Config
	var maxEvent string
	var logLevel, pprofAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Ensue server (embedded NATS JetStream by default)",
		Long: `Run the Ensue server: the HTTP API, the event log and its index.

By default the log is a NATS JetStream server embedded in the process, with
its files under --data; it listens on no network port of its own. With
--nats-url, Ensue uses an external JetStream server or cluster instead.

Every flag has an environment variable (shown in brackets); a flag given on
the command line wins. Stop the server with Ctrl-C or SIGTERM: requests in
flight finish first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return serveUsage(fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel))
			}
			n, err := strconv.Atoi(maxEvent)
			if err != nil {
				return serveUsage(fmt.Errorf("--max-event-bytes %q is not a number of bytes", maxEvent))
			}
			cfg.MaxEventBytes = n
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if pprofAddr != "" {
				stop, err := servePprof(pprofAddr, cmd.ErrOrStderr())
				if err != nil {
					return serveUsage(err)
				}
				defer stop()
			}
			return runServe(cmd.Context(), cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", envOr("ENSUE_ADDR", "127.0.0.1:7600"), "HTTP listen address [ENSUE_ADDR]")
	f.StringVar(&cfg.DataDir, "data", envOr("ENSUE_DATA", "./ensue-data"), "data directory: the embedded log and the index [ENSUE_DATA]")
	f.StringVar(&cfg.NATSURL, "nats-url", envOr("ENSUE_NATS_URL", ""), "use this external NATS JetStream server or cluster (comma-separated URLs) instead of the embedded one [ENSUE_NATS_URL]")
	f.IntVar(&cfg.Replicas, "replicas", atoiOr(envOr("ENSUE_REPLICAS", ""), 1), "replicas of the log on an external cluster, e.g. 3 [ENSUE_REPLICAS]")
	f.StringVar(&cfg.Sync, "sync", envOr("ENSUE_SYNC", server.SyncInterval), "embedded durability: interval (fsync at least every second) or always (fsync before every acknowledgement) [ENSUE_SYNC]")
	f.StringVar(&cfg.NATSListen, "nats-listen", envOr("ENSUE_NATS_LISTEN", ""), "let NATS clients reach the embedded server at this address, e.g. 127.0.0.1:4222 [ENSUE_NATS_LISTEN]")
	f.StringVar(&maxEvent, "max-event-bytes", envOr("ENSUE_MAX_EVENT_BYTES", strconv.Itoa(1<<20)), "largest event accepted, in bytes of JSON [ENSUE_MAX_EVENT_BYTES]")
	f.StringVar(&pprofAddr, "pprof-addr", envOr("ENSUE_PPROF_ADDR", ""), "serve Go's profiler (/debug/pprof/) at this address, e.g. 127.0.0.1:6060; off by default [ENSUE_PPROF_ADDR]")
	f.StringVar(&cfg.FlowsDir, "flows", envOr("ENSUE_FLOWS", ""), "apply the flows of this file or directory (.yaml, .yml, .json) at start, in the default namespace [ENSUE_FLOWS]")
	f.StringVar(&logLevel, "log-level", envOr("ENSUE_LOG_LEVEL", "info"), "debug, info, warn or error [ENSUE_LOG_LEVEL]")
	return cmd
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func runServe(ctx context.Context, cmd *cobra.Command, cfg server.Config) error {
	if cfg.NATSURL != "" && cmd.Flags().Changed("sync") {
		return serveUsage(fmt.Errorf("--sync applies to the embedded server only; with --nats-url the NATS server's own sync_interval setting applies"))
	}
	s, err := server.New(cfg)
	if err != nil {
		return serveUsage(err)
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Ensue is running at %s\n", s.URL())
	fmt.Fprintf(out, "  log:  %s\n", s.Durability)
	fmt.Fprintf(out, "  data: %s\n", cfg.DataDir)
	fmt.Fprintf(out, "Try:  go run ./cmd/ensue emit --type hello.world --source /readme --data '{\"hello\":\"world\"}'\n")
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "Stopping: finishing requests in flight…")
	case err := <-s.Done():
		_ = s.Stop(context.Background())
		return fmt.Errorf("the HTTP server stopped: %w", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
}

// serveUsageError is a bad flag or setting of `ensue serve`.
type serveUsageError struct{ err error }

func (e serveUsageError) Error() string { return e.err.Error() }
func (e serveUsageError) Unwrap() error { return e.err }

func serveUsage(err error) error { return serveUsageError{err} }

// servePprof serves the Go profiler on its own listener, apart from the API.
func servePprof(addr string, stderr io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stderr, "profiler at http://%s/debug/pprof/\n", ln.Addr())
	return func() { _ = srv.Close() }, nil
}
