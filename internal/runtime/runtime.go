package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ensue-dev/ensue/internal/clock"
	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/store"
	"github.com/ensue-dev/ensue/internal/webhook"
)

// Secrets keeps the signing secrets Ensue generates for flows. They are
// never written in the log.
type Secrets interface {
	// Get returns the secret stored under key, or ErrNoSecret.
	Get(ctx context.Context, key string) (string, error)
	// Put stores a secret under key, replacing any.
	Put(ctx context.Context, key, secret string) error
}

// ErrNoSecret: no secret is stored under that key.
var ErrNoSecret = errors.New("no secret")

// Config configures a Runtime.
type Config struct {
	// Dir holds the engine's derived store. Required.
	Dir string
	// Log is read in order by the engine. Required.
	Log eventlog.Log
	// Store appends what runs record and emit, deduplicated. Required.
	Store *store.Store
	// Secrets keeps generated signing secrets. Nil: `ensue flows secret`
	// answers that they are not available.
	Secrets Secrets
	// Webhook configures HTTP delivery; its Clock defaults to Clock.
	Webhook webhook.Config
	// Clock for waits. Default clock.Real{}.
	Clock clock.Clock
	// LookupEnv resolves `secret: env:NAME`. Default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Feed, when set, is where the engine reads the log: the records this
	// process appended, from memory, and the rest from the log, up to what
	// the index has applied. Nil: the engine subscribes to the log.
	Feed Feed
	// Leader, when several nodes share the log, elects the one that runs
	// steps. Nil: this node always does (the embedded log has one node).
	Leader Leader
	// CheckEmitted, when set, checks an event a flow emits as ingest checks
	// a producer's (its schema): an error refuses it, and the run is
	// dead-lettered with it; it may return the event annotated.
	CheckEmitted func(ns string, ev *event.Event) (*event.Event, error)
	// Registry receives the per-flow metrics. Default: a new registry.
	Registry prometheus.Registerer
	// WaitTimeout bounds how long an API change waits for the engine to
	// apply it. Default 10s.
	WaitTimeout time.Duration
	Logger      *slog.Logger
}

func (c *Config) validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("runtime: Dir is required"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("runtime: Log is required"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("runtime: Store is required"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Webhook.Clock == nil {
		c.Webhook.Clock = c.Clock
	}
	if c.LookupEnv == nil {
		c.LookupEnv = os.LookupEnv
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Runtime runs flows. Start it once; Stop it once.
type Runtime struct {
	cfg     Config
	log     *slog.Logger
	st      *state
	matcher *flow.Matcher
	deliver *webhook.Deliverer
	sched   *scheduler
	metrics *metrics

	// active maps "ns\x00name" to the version of an enabled flow; only the
	// engine writes it.
	mu       sync.RWMutex
	active   map[string]uint64
	compiled map[string]*flow.Compiled // "ns\x00name\x00version"

	applied     atomic.Uint64
	appliedMu   sync.Mutex
	appliedWake chan struct{}
	errMu       sync.Mutex
	err         error

	// caughtUp is closed once the engine has applied the log as it was
	// at start; executors wait for it.
	caughtUp     chan struct{}
	caughtUpOnce sync.Once
	// startMu orders the engine's handing of runs to the scheduler with
	// executors starting and stopping; started and runCtx change under it.
	startMu sync.Mutex
	started atomic.Bool
	runCtx  context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	leading chan struct{}
	runWG   sync.WaitGroup
}

// Feed serves the log in order up to a head that only moves forward.
type Feed interface {
	Head() uint64
	// WaitHead waits until the head reaches pos (or ctx ends).
	WaitHead(ctx context.Context, pos uint64) error
	// Records returns records after `after`, up to `to`, at most limit.
	Records(ctx context.Context, after, to uint64, limit int) ([]eventlog.Record, error)
}

// Leader decides which node executes runs when several Ensue nodes share
// one log: every node follows the log and answers the API, only the leader
// runs steps.
type Leader interface {
	// Lead blocks until this node leads, or ctx ends. The context it
	// returns ends when the lead is lost (or ctx ends).
	Lead(ctx context.Context) (context.Context, error)
}

// New opens the runtime's store. Call Start to run it.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	st, err := openState(cfg.Dir)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{
		cfg: cfg, log: cfg.Logger, st: st, matcher: flow.NewMatcher(),
		deliver: webhook.New(cfg.Webhook), metrics: newMetrics(cfg.Registry),
		active: map[string]uint64{}, compiled: map[string]*flow.Compiled{},
		appliedWake: make(chan struct{}), caughtUp: make(chan struct{}),
	}
	rt.sched = newScheduler(rt)
	cp, err := st.checkpoint()
	if err != nil {
		st.close()
		return nil, err
	}
	rt.applied.Store(cp)
	if err := rt.loadFlows(); err != nil {
		st.close()
		return nil, err
	}
	return rt, nil
}

// Start follows the log in the background. Runs start once the engine has
// caught up with the log as it is now.
func (rt *Runtime) Start(ctx context.Context) error {
	last, err := rt.cfg.Log.LastPosition(ctx)
	if err != nil {
		return fmt.Errorf("runtime: read the log's end: %w", err)
	}
	var bg context.Context
	bg, rt.cancel = context.WithCancel(context.Background())
	rt.done = make(chan struct{})
	rt.leading = make(chan struct{})
	go func() {
		defer close(rt.done)
		_ = rt.follow(bg, last)
	}()
	go func() {
		defer close(rt.leading)
		rt.lead(bg)
	}()
	return nil
}

func (rt *Runtime) markCaughtUp() { rt.caughtUpOnce.Do(func() { close(rt.caughtUp) }) }

// lead executes runs while this node leads: from the engine's catch-up
// on, always without a Leader; otherwise each time it wins the lead, until
// it loses it.
func (rt *Runtime) lead(ctx context.Context) {
	select {
	case <-rt.caughtUp:
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		lctx := ctx
		if rt.cfg.Leader != nil {
			var err error
			if lctx, err = rt.cfg.Leader.Lead(ctx); err != nil {
				if ctx.Err() == nil {
					rt.log.Warn("cannot campaign to run flows; retrying", "err", err)
					select {
					case <-ctx.Done():
					case <-rt.cfg.Clock.After(time.Second):
					}
				}
				continue
			}
			rt.log.Info("this node runs the flows' steps now")
		}
		rt.activate(lctx)
		<-lctx.Done()
		rt.startMu.Lock()
		rt.started.Store(false)
		rt.startMu.Unlock()
		rt.runWG.Wait()
		if ctx.Err() == nil {
			rt.log.Warn("this node lost the lead: another runs the flows' steps")
		}
	}
}

// Stop ends the engine and every run in progress; runs resume from their
// last recorded step at the next start.
func (rt *Runtime) Stop(ctx context.Context) error {
	if rt.cancel != nil {
		rt.cancel()
		for _, ch := range []chan struct{}{rt.done, rt.leading} {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	waited := make(chan struct{})
	go func() { rt.runWG.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		return ctx.Err()
	}
	return rt.st.close()
}

// Leading reports whether this node executes runs now: it has caught up
// with the log as it was at start, and leads (always, without a Leader).
func (rt *Runtime) Leading() bool { return rt.started.Load() }

// Err is the engine's latest failure to follow the log, nil once it
// follows again.
func (rt *Runtime) Err() error {
	rt.errMu.Lock()
	defer rt.errMu.Unlock()
	return rt.err
}

func (rt *Runtime) setErr(err error) {
	rt.errMu.Lock()
	rt.err = err
	rt.errMu.Unlock()
}

// Applied is the last log position the engine has applied.
func (rt *Runtime) Applied() uint64 { return rt.applied.Load() }

func (rt *Runtime) setApplied(pos uint64) {
	rt.appliedMu.Lock()
	rt.applied.Store(pos)
	close(rt.appliedWake)
	rt.appliedWake = make(chan struct{})
	rt.appliedMu.Unlock()
}

// WaitApplied waits until the engine has applied the log up to pos.
func (rt *Runtime) WaitApplied(ctx context.Context, pos uint64) error {
	for {
		rt.appliedMu.Lock()
		wake := rt.appliedWake
		rt.appliedMu.Unlock()
		if rt.applied.Load() >= pos {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("the flow engine has not reached position %d yet (it is at %d): %w", pos, rt.applied.Load(), ctx.Err())
		}
	}
}

// activate resumes every unfinished run, in log order per flow, and lets
// the engine hand new runs to the scheduler from then on, under ctx.
func (rt *Runtime) activate(ctx context.Context) {
	// What another leader recorded must be applied before deciding what
	// is unfinished.
	for ctx.Err() == nil {
		if err := rt.catchUp(ctx); err == nil {
			break
		}
	}
	rt.startMu.Lock()
	defer rt.startMu.Unlock()
	var open []*Run
	err := rt.st.scan([]byte{'o', 0}, nil, func(k, v []byte) bool {
		flowName, pos, ok := ParseRunID(string(v))
		if !ok {
			return true
		}
		ns := nsOfKey(k)
		r, err := rt.st.run(ns, flowName, pos)
		if err == nil && r != nil && !r.Finished() {
			open = append(open, r)
		}
		return true
	})
	if err != nil {
		rt.log.Error("cannot list unfinished runs", "err", err)
	}
	rt.runCtx = ctx
	rt.started.Store(true)
	for _, r := range open {
		rt.sched.enqueue(ctx, r)
	}
	if len(open) > 0 {
		rt.log.Info("resuming unfinished runs", "runs", len(open))
	}
}

func nsOfKey(k []byte) string {
	// k = kind 0 ns 0 ...
	rest := k[2:]
	for i, c := range rest {
		if c == 0 {
			return string(rest[:i])
		}
	}
	return string(rest)
}

// loadFlows fills the matcher from the store.
func (rt *Runtime) loadFlows() error {
	flows, err := rt.st.flows("")
	if err != nil {
		return err
	}
	rt.matcher = flow.NewMatcher()
	rt.mu.Lock()
	rt.active = map[string]uint64{}
	rt.mu.Unlock()
	for i := range flows {
		rt.setFlow(&flows[i])
	}
	return nil
}

// setFlow brings the matcher in line with a flow's state.
func (rt *Runtime) setFlow(f *FlowState) {
	k := f.Namespace + "\x00" + f.Name
	if f.Deleted || !f.Enabled {
		rt.matcher.Remove(f.Namespace, f.Name)
		rt.mu.Lock()
		delete(rt.active, k)
		rt.mu.Unlock()
		return
	}
	c, err := rt.compile(f.Namespace, f.Name, f.Version, f.Definition)
	if err != nil {
		rt.log.Error("stored flow does not compile; it will not trigger", "namespace", f.Namespace, "flow", f.Name, "version", f.Version, "err", err)
		rt.matcher.Remove(f.Namespace, f.Name)
		rt.mu.Lock()
		delete(rt.active, k)
		rt.mu.Unlock()
		return
	}
	rt.matcher.Put(f.Namespace, c)
	rt.mu.Lock()
	rt.active[k] = f.Version
	rt.mu.Unlock()
}

func (rt *Runtime) activeVersion(ns, name string) uint64 {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return rt.active[ns+"\x00"+name]
}

// compile returns the compiled form of a flow's version, cached.
func (rt *Runtime) compile(ns, name string, version uint64, def []byte) (*flow.Compiled, error) {
	k := ns + "\x00" + name + "\x00" + strconv.FormatUint(version, 10)
	rt.mu.RLock()
	c := rt.compiled[k]
	rt.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	if def == nil {
		var err error
		if def, err = rt.st.flowVersion(ns, name, version); err != nil {
			return nil, err
		}
		if def == nil {
			return nil, fmt.Errorf("version %d of flow %q is not stored", version, name)
		}
	}
	f, err := flow.ParseCanonical(def)
	if err != nil {
		return nil, err
	}
	c, err = flow.Compile(f)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	rt.compiled[k] = c
	rt.mu.Unlock()
	return c, nil
}
