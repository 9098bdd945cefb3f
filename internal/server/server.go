// Package server wires Ensue together: the log (embedded NATS JetStream or
// an external server), the derived index and its indexer, the store and the
// HTTP API, with one lifecycle: Start, then Stop (graceful: in-flight
// requests finish first).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ensue-dev/ensue/internal/api"
	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/index"
	"github.com/ensue-dev/ensue/internal/projection"
	"github.com/ensue-dev/ensue/internal/registry"
	"github.com/ensue-dev/ensue/internal/runtime"
	"github.com/ensue-dev/ensue/internal/store"
	"github.com/ensue-dev/ensue/internal/webhook"
)

// Sync modes of the embedded server.
const (
	SyncInterval = "interval"
	SyncAlways   = "always"
)

// Config configures a server. Zero fields take the defaults.
type Config struct {
	// Addr is the HTTP listen address. Default 127.0.0.1:7600; port 0 picks one.
	Addr string
	// DataDir holds the embedded JetStream files and the index. Default ./ensue-data.
	DataDir string
	// NATSURL, when set, uses that external NATS JetStream server or
	// cluster (comma-separated URLs) instead of the embedded one.
	NATSURL string
	// Replicas of the log's stream on an external cluster. Default 1.
	Replicas int
	// Sync is the embedded server's durability: "interval" (default: fsync
	// at least every second) or "always" (fsync before every acknowledgement).
	Sync string
	// NATSListen, when set, makes the embedded server accept NATS clients
	// on that address (e.g. for the nats CLI). Default: no port.
	NATSListen string
	// MaxEventBytes bounds one event's JSON. Default 1 MiB.
	MaxEventBytes int
	// MaxRequestBytes bounds one request body. Default 16 MiB.
	MaxRequestBytes int64
	// FlowsDir, when set, is a flow file or a directory of them applied
	// at start (in the default namespace); a file that does not compile
	// stops the start with its errors.
	FlowsDir string
	// NoFlows turns the flow runtime off (its routes answer 503).
	NoFlows bool
	// Webhook tunes the delivery of flows' HTTP steps (circuit breakers,
	// HTTP client); the zero value is the defaults.
	Webhook webhook.Config
	// Logger for the server's messages. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:7600"
	}
	if c.DataDir == "" {
		c.DataDir = "ensue-data"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Sync == "" {
		c.Sync = SyncInterval
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = event.DefaultMaxEventBytes
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 16 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Sync != SyncInterval && c.Sync != SyncAlways {
		errs = append(errs, fmt.Errorf("--sync must be %q or %q, got %q", SyncInterval, SyncAlways, c.Sync))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("--replicas must be between 1 and 5, got %d", c.Replicas))
	}
	if c.NATSURL == "" && c.Replicas != 1 {
		errs = append(errs, errors.New("--replicas needs --nats-url: the embedded server is a single node"))
	}
	if c.MaxEventBytes < 1024 || c.MaxEventBytes > 32<<20 {
		errs = append(errs, fmt.Errorf("the event size limit must be between 1 KiB and 32 MiB, got %d bytes", c.MaxEventBytes))
	}
	if c.MaxRequestBytes < int64(c.MaxEventBytes) {
		errs = append(errs, errors.New("the request size limit must be at least the event size limit"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q is not host:port: %v", c.Addr, err))
	}
	return errors.Join(errs...)
}

// Server is a running Ensue.
type Server struct {
	cfg Config
	log *slog.Logger

	embedded *eventlog.Embedded
	nc       *nats.Conn
	evlog    *eventlog.JetStream
	ix       *index.Index
	indexer  *index.Indexer
	store    *store.Store
	runtime  *runtime.Runtime
	schemas  *registry.Registry
	projs    *projection.Manager
	flowDocs []flow.Document
	http     *http.Server
	ln       net.Listener
	served   chan error

	// Durability describes what an acknowledgement guarantees, for the
	// start-up message.
	Durability string

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWork   sync.WaitGroup
	api      *api.API
	stopOnce sync.Once
	stopErr  error
}

// New validates cfg and returns a server ready to Start.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	return s, nil
}

// Start brings the server up: it returns once the HTTP listener accepts
// connections. The index catches up with the log in the background; until
// it has, appends answer 503 and /readyz is not ready.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = s.Stop(context.Background())
		}
	}()
	if s.cfg.FlowsDir != "" {
		// Before anything starts: a flow file with errors stops here.
		if s.flowDocs, err = runtime.ReadFiles(s.cfg.FlowsDir); err != nil {
			return fmt.Errorf("--flows %s:\n%w", s.cfg.FlowsDir, err)
		}
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data directory %s: %w", s.cfg.DataDir, err)
	}
	if s.cfg.NATSURL == "" {
		s.embedded, err = eventlog.StartEmbedded(eventlog.EmbeddedConfig{
			Dir:        filepath.Join(s.cfg.DataDir, "jetstream"),
			SyncAlways: s.cfg.Sync == SyncAlways,
			MaxPayload: s.cfg.MaxEventBytes + eventlog.HeaderRoom,
			Listen:     s.cfg.NATSListen,
		})
		if err != nil {
			return err
		}
		if s.nc, err = s.embedded.Connect("ensue"); err != nil {
			return err
		}
		if s.cfg.Sync == SyncAlways {
			s.Durability = "embedded JetStream, fsync before every acknowledgement"
		} else {
			s.Durability = "embedded JetStream, fsync every second (a crash of the process loses nothing acknowledged; a power loss may lose the last second)"
		}
	} else {
		s.nc, err = nats.Connect(s.cfg.NATSURL, nats.Name("ensue"), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
			// No buffering while disconnected: a publish either reaches the
			// server now or fails now, so an append's outcome can be resolved.
			nats.ReconnectBufSize(-1))
		if err != nil {
			return fmt.Errorf("connect to NATS at %s: %w (is the server running, with JetStream enabled?)", s.cfg.NATSURL, err)
		}
		s.Durability = fmt.Sprintf("external JetStream at %s with %d replica(s): %s; acknowledged writes survive a crash of the Ensue process", s.nc.ConnectedUrlRedacted(), s.cfg.Replicas, externalSync(s.nc, 500*time.Millisecond))
	}
	s.ix, err = index.Open(index.Config{Dir: filepath.Join(s.cfg.DataDir, "index"), Logger: s.log.With("service", "index")})
	if err != nil {
		return err
	}
	s.evlog, err = eventlog.Open(ctx, s.nc, eventlog.Config{
		Replicas:      s.cfg.Replicas,
		MaxEventBytes: s.cfg.MaxEventBytes,
		Logger:        s.log.With("service", "eventlog"),
		Heads:         s.ix,
		// Embedded and listening on no port, nothing else can append.
		SoleWriter: s.cfg.NATSURL == "" && s.cfg.NATSListen == "",
	})
	if err != nil {
		return err
	}
	s.store, err = store.New(store.Config{Log: s.evlog, Index: s.ix, Logger: s.log.With("service", "store")})
	if err != nil {
		return err
	}
	s.indexer = index.NewIndexer(s.ix, s.evlog, s.log.With("service", "indexer"))
	// Embedded, this process is the log's only writer: the index takes its
	// appends as they are acknowledged and reads the log only for gaps.
	s.indexer.WriteThrough = s.cfg.NATSURL == ""
	if err := s.indexer.Start(ctx); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	kv, err := openSchemaBucket(ctx, s.nc, s.cfg.Replicas)
	if err != nil {
		return err
	}
	if s.schemas, err = registry.Open(ctx, registry.Config{KV: kv, Logger: s.log.With("service", "registry")}); err != nil {
		return err
	}
	defs, err := openDefinitions(ctx, s.nc, s.cfg.Replicas)
	if err != nil {
		return err
	}
	s.projs, err = projection.New(projection.Config{
		Dir: filepath.Join(s.cfg.DataDir, "projections"), Feed: s.store, Log: s.evlog, Definitions: defs,
		Logger: s.log.With("service", "projections"),
	})
	if err != nil {
		return err
	}
	if err := s.projs.Start(ctx); err != nil {
		return err
	}
	if !s.cfg.NoFlows {
		secrets, err := openSecrets(ctx, s.nc, s.cfg.Replicas)
		if err != nil {
			return err
		}
		rcfg := runtime.Config{
			Dir: filepath.Join(s.cfg.DataDir, "runtime"), Log: s.evlog, Store: s.store, Secrets: secrets,
			Registry: reg, Logger: s.log.With("service", "runtime"), Webhook: s.cfg.Webhook,
			// The engine reads what the index has applied, this node's
			// appends from memory: no second reader of the whole log.
			Feed: s.store,
			// What flows emit meets the same schemas as what producers send.
			CheckEmitted: func(ns string, ev *event.Event) (*event.Event, error) {
				out, _, err := s.schemas.Check(ns, ev)
				return out, err
			},
		}
		if s.cfg.NATSURL != "" {
			// Several nodes may share this log: one runs the steps.
			node, err := nodeID(s.cfg.DataDir)
			if err != nil {
				return err
			}
			if rcfg.Leader, err = openLeader(ctx, s.nc, s.cfg.Replicas, node, s.log.With("service", "lease")); err != nil {
				return err
			}
		}
		s.runtime, err = runtime.New(rcfg)
		if err != nil {
			return err
		}
		if err := s.runtime.Start(ctx); err != nil {
			return err
		}
	}
	s.bgWork.Add(1)
	go func() {
		defer s.bgWork.Done()
		s.catchUp()
		s.applyFlowFiles()
	}()

	snapshots, consumers, err := openAPIBuckets(ctx, s.nc, s.cfg.Replicas)
	if err != nil {
		return err
	}
	s.api = api.New(api.Config{
		Snapshots:       snapshots,
		Consumers:       consumers,
		Store:           s.store,
		Runtime:         s.runtime,
		Schemas:         s.schemas,
		Projections:     s.projs,
		MaxEventBytes:   s.cfg.MaxEventBytes,
		MaxRequestBytes: s.cfg.MaxRequestBytes,
		Ready:           s.ready,
		Registry:        reg,
		Logger:          s.log.With("service", "api"),
	})
	s.ln, err = net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another Ensue running? choose another port with --addr)", s.cfg.Addr, err)
	}
	s.http = &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    256 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.http.Serve(s.ln) }()
	return nil
}

// catchUp marks the store ready once the index has applied the log as it
// was at start, logging progress on long catch-ups.
func (s *Server) catchUp() {
	ctx := s.bgCtx
	last, err := s.evlog.LastPosition(ctx)
	for err != nil {
		s.log.Warn("cannot read the log's last position; retrying", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
		last, err = s.evlog.LastPosition(ctx)
	}
	start := time.Now()
	from := s.ix.Applied()
	if last > from {
		s.log.Info("index catching up with the log", "from", from, "to", last)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.ix.WaitApplied(wctx, last)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		applied := s.ix.Applied()
		rate := float64(applied-from) / time.Since(start).Seconds()
		s.log.Info("index catching up", "applied", applied, "of", last, "events_per_s", int(rate))
	}
	if last > from {
		s.log.Info("index caught up", "events", last-from, "took", time.Since(start).Round(time.Millisecond))
	}
	s.store.SetReady()
}

// applyFlowFiles applies the flows of --flows once the store answers.
func (s *Server) applyFlowFiles() {
	for _, d := range s.flowDocs {
		if d.Kind == flow.KindProjection && s.projs != nil {
			pd, err := projection.FromDocument(d)
			if err == nil {
				var res projection.ApplyResult
				if res, err = s.projs.Apply(s.bgCtx, "default", pd); err == nil {
					s.log.Info("projection "+res.Outcome, "projection", res.Name, "generation", res.Generation, "file", d.File)
					continue
				}
			}
			s.log.Error("cannot apply projection", "file", d.File, "projection", d.Name, "err", err)
			continue
		}
		if d.Flow == nil {
			s.log.Warn("skipped: not a flow or a projection", "file", d.File, "kind", d.Kind, "name", d.Name)
			continue
		}
		if s.runtime == nil {
			return
		}
		res, err := s.runtime.Apply(s.bgCtx, "default", d.Flow)
		if err != nil {
			s.log.Error("cannot apply flow", "file", d.File, "flow", d.Flow.Name, "err", err)
			continue
		}
		s.log.Info("flow "+res.Outcome, "flow", res.Name, "version", res.Version, "file", d.File)
	}
}

// Runtime is the flow runtime (nil with NoFlows).
func (s *Server) Runtime() *runtime.Runtime { return s.runtime }

// ready answers /readyz: the log is reachable and the index has caught up.
func (s *Server) ready(ctx context.Context) error {
	if st := s.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("not connected to NATS (%s)", st)
	}
	if !s.store.Ready() {
		return store.ErrNotReady
	}
	if err := s.indexer.Err(); err != nil {
		return fmt.Errorf("the index is not following the log: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.evlog.LastPosition(ctx); err != nil {
		return fmt.Errorf("the log does not answer: %w", err)
	}
	return nil
}

// WaitIndexed waits until the index has applied the whole log as it is
// now: filtered reads and correlations then reflect every earlier append.
func (s *Server) WaitIndexed(ctx context.Context) error { return s.indexer.CatchUp(ctx) }

// URL is the base URL of the HTTP API.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Done delivers the HTTP server's exit error if it stops on its own.
func (s *Server) Done() <-chan error { return s.served }

// Stop shuts down gracefully: new connections are refused, in-flight
// requests finish (until ctx is done), then the log and index close.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.teardown(ctx) })
	return s.stopErr
}

func (s *Server) teardown(ctx context.Context) error {
	var errs []error
	s.bgCancel()
	s.bgWork.Wait()
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if s.runtime != nil {
		if err := s.runtime.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flow runtime: %w", err))
		}
	}
	if s.projs != nil {
		if err := s.projs.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("projections: %w", err))
		}
	}
	if s.schemas != nil {
		s.schemas.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.indexer != nil {
		if err := s.indexer.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.nc != nil {
		_ = s.nc.Flush()
		s.nc.Close()
	}
	if s.ix != nil {
		if err := s.ix.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
	}
	return errors.Join(errs...)
}
