// Package api is Ensue's HTTP edge: the /v1 API (CloudEvents ingest,
// reads, Server-Sent Events), health and readiness, and metrics. Errors are
// RFC 9457 application/problem+json.
//
// It may import event, store, eventlog (for error types), flow and runtime
// (flows, runs and dead letters) and the standard library, plus the
// Prometheus client.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/projection"
	"github.com/ensue-dev/ensue/internal/registry"
	"github.com/ensue-dev/ensue/internal/runtime"
	"github.com/ensue-dev/ensue/internal/store"
)

// Config configures the API handler.
type Config struct {
	Store *store.Store
	// Runtime runs flows; nil: the flow, run and dead-letter routes answer 503.
	Runtime *runtime.Runtime
	// Projections keeps read models; nil: their routes answer 503.
	Projections *projection.Manager
	// Schemas validates events at ingest and serves the schema routes;
	// nil: no validation, and the schema routes answer 503.
	Schemas *registry.Registry
	// MaxEventBytes bounds one event's JSON (default 1 MiB).
	MaxEventBytes int
	// MaxRequestBytes bounds one request body (default 16 MiB).
	MaxRequestBytes int64
	// BodyIdleTimeout is how long reading a request body waits for the
	// client to send more; a client silent that long in the middle of a
	// body is answered 408. Default 10s.
	BodyIdleTimeout time.Duration
	// Ready reports whether the server can answer appends and lookups; nil
	// means the store's own readiness.
	Ready func(ctx context.Context) error
	// Registry receives the API's metrics. Default: a new registry.
	Registry *prometheus.Registry
	// SSEKeepAlive is the interval of keep-alive comments on idle
	// subscriptions. Default 15s.
	SSEKeepAlive time.Duration
	// SSEWriteTimeout bounds each write to a subscriber: one that accepts
	// nothing for this long is disconnected, and resumes with
	// Last-Event-ID when it comes back. Default 30s.
	SSEWriteTimeout time.Duration
	Logger          *slog.Logger
	// Snapshots keeps streams' snapshots; nil: the snapshot routes answer 503.
	Snapshots KV
	// Consumers keeps durable consumers' checkpoints; nil: their routes answer 503.
	Consumers KV
}

// API serves HTTP.
type API struct {
	cfg     Config
	store   *store.Store
	limits  event.Limits
	mux     *http.ServeMux
	log     *slog.Logger
	metrics *metrics

	segmentRoutes []segmentRoute

	// shutdown is closed when the http.Server serving the API shuts down;
	// see watchShutdown.
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// New builds the handler.
func New(cfg Config) *API {
	if cfg.MaxEventBytes == 0 {
		cfg.MaxEventBytes = event.DefaultMaxEventBytes
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 16 << 20
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.SSEKeepAlive == 0 {
		cfg.SSEKeepAlive = 15 * time.Second
	}
	if cfg.BodyIdleTimeout == 0 {
		cfg.BodyIdleTimeout = 10 * time.Second
	}
	if cfg.SSEWriteTimeout == 0 {
		cfg.SSEWriteTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, store: cfg.Store, limits: event.Limits{MaxEventBytes: cfg.MaxEventBytes}, mux: http.NewServeMux(), log: cfg.Logger, shutdown: make(chan struct{})}
	a.metrics = newMetrics(cfg.Registry)
	m := a.mux
	m.HandleFunc("POST /v1/events", a.ingest)
	m.HandleFunc("GET /v1/events", a.listEvents)
	m.HandleFunc("GET /v1/events/lookup", a.lookup)
	m.HandleFunc("GET /v1/events/{position}", a.getEvent)
	a.segmentRoutes = []segmentRoute{
		{prefix: "/v1/streams/", name: "stream", handler: a.readStream},
		{prefix: "/v1/correlations/", name: "id", handler: a.correlation},
	}
	for _, route := range a.segmentRoutes {
		// ServeHTTP matches these first; the mux keeps them so that its
		// table lists every route.
		m.HandleFunc("GET "+route.prefix+"{"+route.name+"}", route.handler)
	}
	m.HandleFunc("GET /v1/subscribe", a.subscribe)
	a.routeFlows(m)
	a.routeSchemas(m)
	a.routeProjections(m)
	a.routeSnapshots(m)
	a.routeConsumers(m)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	m.HandleFunc("GET /readyz", a.readyz)
	m.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := a.allowedMethods(r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeProblem(w, &Problem{Type: typeMethodBlocked, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
				Detail: fmt.Sprintf("%s does not answer %s; use %s", r.URL.Path, r.Method, strings.Join(allowed, " or "))})
			return
		}
		writeProblem(w, notFound(fmt.Sprintf("no route for %s %s; see the HTTP API documentation (docs/http-api.md)", r.Method, r.URL.Path)))
	})
	return a
}

// allowedMethods lists the methods that have a route for r's path. The
// catch-all route matches every method, so the mux itself never answers 405.
func (a *API) allowedMethods(r *http.Request) []string {
	var allowed []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := *r
		probe.Method = method
		if _, pattern := a.mux.Handler(&probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, method)
		}
	}
	return allowed
}

// ServeHTTP implements http.Handler: namespace check and panic recovery
// around the routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.Error("api: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeProblem(w, &Problem{Type: typeInternal, Title: "Internal error", Status: http.StatusInternalServerError, Detail: "the server failed to handle this request; it keeps serving. Please report it with the request that caused it."})
		}
	}()
	if stream, ok := snapshotStream(r.URL.EscapedPath()); ok {
		r.SetPathValue("stream", stream)
		a.snapshot(w, r)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		for _, route := range a.segmentRoutes {
			if v, ok := singleSegment(r.URL.EscapedPath(), route.prefix); ok {
				r.SetPathValue(route.name, v)
				route.handler(w, r)
				return
			}
		}
	}
	a.mux.ServeHTTP(w, r)
}

// segmentRoute is a GET route whose last segment is a name chosen by clients
// (a stream, a correlation id). ServeMux cleans paths before matching, so
// that a name such as ".", "..", "a/../b" (sent as a%2F..%2Fb) or "/" (sent
// as %2F) would be redirected elsewhere or not found; these routes are
// matched on the escaped path instead, before the mux.
type segmentRoute struct {
	prefix, name string
	handler      http.HandlerFunc
}

// singleSegment returns the unescaped rest of an escaped path after prefix
// when that rest is one non-empty segment.
func singleSegment(escapedPath, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(escapedPath, prefix)
	if !ok || rest == "" || strings.IndexByte(rest, '/') >= 0 {
		return "", false
	}
	v, err := url.PathUnescape(rest)
	if err != nil {
		return "", false
	}
	return v, true
}

var namespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// namespace reads the Ensue-Namespace header.
func namespace(r *http.Request) (string, *Problem) {
	ns := r.Header.Get("Ensue-Namespace")
	if ns == "" {
		return "default", nil
	}
	if !namespaceRE.MatchString(ns) {
		msg := fmt.Sprintf("the Ensue-Namespace header %q is not a namespace: use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit", clip(ns, 80))
		return "", &Problem{Type: typeBadNamespace, Title: "Invalid namespace", Status: http.StatusBadRequest,
			Detail: msg, Errors: []event.FieldError{{Pointer: "Ensue-Namespace", Message: msg}}}
	}
	return ns, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	var err error
	if a.cfg.Ready != nil {
		err = a.cfg.Ready(r.Context())
	} else if !a.store.Ready() {
		err = store.ErrNotReady
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "{\"status\":\"not ready\",\"reason\":%s}\n", quote(err.Error()))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
}
