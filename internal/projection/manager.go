package projection

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ensue-dev/ensue/internal/eventlog"
)

// Feed is where projections read the log: *store.Store implements it
// (records this process appended from memory, the rest from the log).
type Feed interface {
	// Head is the latest position up to which the log can be read in order.
	Head() uint64
	// WaitHead waits until Head reaches pos (it may return earlier with
	// an error of its own; callers look again).
	WaitHead(ctx context.Context, pos uint64) error
	// Records returns the records after `after` up to `to`, in order, at
	// most limit.
	Records(ctx context.Context, after, to uint64, limit int) ([]eventlog.Record, error)
}

// Definitions is the durable home of projection definitions (the source of
// truth for which projections exist; the Pebble store is derived from them
// and the log). The server backs it with a JetStream KV bucket. Safe for
// concurrent use.
type Definitions interface {
	Put(ctx context.Context, ns, name string, canonical []byte) error
	Delete(ctx context.Context, ns, name string) error
	All(ctx context.Context) ([]StoredDefinition, error)
}

// StoredDefinition is one definition as Definitions keeps it.
type StoredDefinition struct {
	Namespace, Name string
	Canonical       []byte
}

// Config configures a Manager.
type Config struct {
	// Dir holds the derived Pebble store. Required.
	Dir string
	// Feed is read by every generation's engine. Required.
	Feed Feed
	// Log, when set, is read directly by generations far behind the
	// feed's head (a rebuild reading from the start). Optional.
	Log eventlog.Log
	// Definitions keeps the definitions durably. Required.
	Definitions Definitions
	// LagPositions and LagTime: a projection further behind the head
	// than either is "catching-up". Defaults 1000 and 1s.
	LagPositions uint64
	LagTime      time.Duration
	// Now is the clock for statuses and failures. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("projection: Config.Dir is required"))
	}
	if c.Feed == nil {
		errs = append(errs, errors.New("projection: Config.Feed is required"))
	}
	if c.Definitions == nil {
		errs = append(errs, errors.New("projection: Config.Definitions is required"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.LagPositions == 0 {
		c.LagPositions = 1000
	}
	if c.LagTime == 0 {
		c.LagTime = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// States of a projection.
const (
	StateRunning    = "running"
	StateCatchingUp = "catching-up"
	StateFailed     = "failed"
	StateRebuilding = "rebuilding"
)

// Outcomes of Apply.
const (
	OutcomeCreated   = "created"
	OutcomeUpdated   = "updated"
	OutcomeUnchanged = "unchanged"
)

// ApplyResult is what Apply did.
type ApplyResult struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	// Generation is the one that will hold the definition: the new one a
	// changed definition is being built into.
	Generation int `json:"generation"`
}

// Status is a projection's definition and progress.
type Status struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Generation answers queries.
	Generation int `json:"generation"`
	// Position is the last log position that generation applied or skipped.
	Position     uint64  `json:"position"`
	LagPositions uint64  `json:"lag_positions"`
	LagSeconds   float64 `json:"lag_seconds"`
	// Error is why the projection stopped (failed), or, while a rebuild
	// is under way, why the generation it will replace stopped.
	Error   *Failure  `json:"error,omitempty"`
	Rebuild *Progress `json:"rebuild,omitempty"`
	// Definition is the latest definition applied (canonical JSON).
	Definition json.RawMessage `json:"definition"`
}

// Failure is the event a reducer refused.
type Failure struct {
	Position  uint64    `json:"position"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Error     string    `json:"error"`
	At        time.Time `json:"at"`
}

// Progress is a rebuild's: a new generation reading the log from the start.
type Progress struct {
	Generation int    `json:"generation"`
	Position   uint64 `json:"position"`
	// Target is where it replaces the generation answering queries.
	Target uint64        `json:"target"`
	Rate   float64       `json:"rate"` // positions per second
	ETA    time.Duration `json:"eta"`
}

var (
	// ErrNotFound: no projection of that name in that namespace.
	ErrNotFound = errors.New("projection not found")
	// ErrNoDocument: the projection has no document of that key (at that
	// position or time).
	ErrNoDocument = errors.New("projection document not found")
	// ErrNotFailed: Resume of a projection that has not stopped.
	ErrNotFailed = errors.New("projection has not failed; nothing to resume")
	// ErrStopped: the manager is not running.
	ErrStopped = errors.New("projection manager is not running")
)

// SkipError is a Resume whose skip position is not the failed one.
type SkipError struct {
	Skip, Failed uint64
}

func (e *SkipError) Error() string {
	return fmt.Sprintf("skip_position %d is not the failed event's position %d; skip exactly the event that failed", e.Skip, e.Failed)
}

// NotCaughtUpError is WaitPosition giving up: the projection has applied
// up to Position. Failure is set when it stopped on a reducer error.
type NotCaughtUpError struct {
	Position uint64
	Failure  *Failure
	Err      error // the context's error, when it ended the wait
}

func (e *NotCaughtUpError) Error() string {
	if e.Failure != nil {
		return fmt.Sprintf("projection stopped at position %d: event %d failed: %s", e.Position, e.Failure.Position, e.Failure.Error)
	}
	return fmt.Sprintf("projection has applied the log up to position %d only: %v", e.Position, e.Err)
}

func (e *NotCaughtUpError) Unwrap() error { return e.Err }

// Manager runs projections: one engine goroutine per generation. New,
// then Start once and Stop once.
type Manager struct {
	cfg Config
	log *slog.Logger
	st  *store

	// opMu orders the changes of projections (Apply, Delete, Rebuild,
	// Resume); engines never take it.
	opMu    sync.Mutex
	mu      sync.RWMutex
	projs   map[string]*proj // ns \x00 name
	gidMu   sync.Mutex
	lastGID uint64

	ctx     context.Context
	cancel  context.CancelFunc
	running bool
	closed  bool
	wg      sync.WaitGroup
	filters filterCache
}

// proj is one projection: the generation answering queries (active) and
// the one being built to replace it (next).
type proj struct {
	ns, name string

	mu      sync.Mutex
	active  *engine
	next    *engine
	deleted bool

	wakeMu sync.Mutex
	wake   chan struct{}
}

// notify wakes WaitPosition callers.
func (p *proj) notify() {
	p.wakeMu.Lock()
	close(p.wake)
	p.wake = make(chan struct{})
	p.wakeMu.Unlock()
}

func (p *proj) waiter() <-chan struct{} {
	p.wakeMu.Lock()
	defer p.wakeMu.Unlock()
	return p.wake
}

func (p *proj) latest() *engine {
	if p.next != nil {
		return p.next
	}
	return p.active
}

func projKey(ns, name string) string { return ns + "\x00" + name }

// New opens the store. Start runs the projections.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	st, err := openStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, st: st, projs: map[string]*proj{}}
	m.filters.init()
	return m, nil
}

func (m *Manager) now() time.Time { return m.cfg.Now() }

// Start loads the definitions, brings the store in line with them (a
// definition missing from the store is built, a changed one rebuilt, a
// projection without definition deleted) and starts the engines.
func (m *Manager) Start(ctx context.Context) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.running || m.ctx != nil {
		return errors.New("projection: Start called twice")
	}
	defs, err := m.cfg.Definitions.All(ctx)
	if err != nil {
		return fmt.Errorf("projection: load definitions: %w", err)
	}
	metas, err := m.st.metas()
	if err != nil {
		return err
	}
	gids, err := m.st.gids()
	if err != nil {
		return err
	}
	if m.lastGID, err = m.st.lastGID(); err != nil {
		return err
	}
	for _, g := range gids {
		m.lastGID = max(m.lastGID, g)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.running = true

	stored := map[string]StoredDefinition{}
	for _, d := range defs {
		stored[projKey(d.Namespace, d.Name)] = d
	}
	used := map[uint64]bool{}
	b := m.st.db.NewBatch()
	defer b.Close()
	for _, md := range metas {
		k := projKey(md.Namespace, md.Name)
		if _, ok := stored[k]; !ok {
			if err := b.Delete(metaKey(md.Namespace, md.Name), nil); err != nil {
				return err
			}
			continue
		}
		p := &proj{ns: md.Namespace, name: md.Name, wake: make(chan struct{})}
		if p.active, err = m.newEngine(p, md.Active); err != nil {
			m.log.Error("projection not started", "namespace", p.ns, "projection", p.name, "err", err)
			continue
		}
		used[md.Active.GID] = true
		if md.Next != nil {
			if p.next, err = m.newEngine(p, *md.Next); err != nil {
				m.log.Error("projection rebuild not resumed", "namespace", p.ns, "projection", p.name, "err", err)
			} else {
				used[md.Next.GID] = true
			}
		}
		m.projs[k] = p
	}
	// Generations no projection refers to: left by a crash between a
	// rebuild's switch and its clean-up, or by a deleted projection.
	for _, g := range gids {
		if !used[g] {
			if err := deleteGen(b, g); err != nil {
				return err
			}
		}
	}
	if err := b.Commit(nil); err != nil {
		return err
	}
	for k, d := range stored {
		def, err := ParseCanonical(d.Canonical)
		if err == nil {
			_, err = Compile(def)
		}
		if err != nil {
			m.log.Error("stored projection definition is not valid; not started", "namespace", d.Namespace, "projection", d.Name, "err", err)
			continue
		}
		p := m.projs[k]
		if p == nil {
			if _, err := m.create(d.Namespace, d.Name, d.Canonical); err != nil {
				return err
			}
			continue
		}
		p.mu.Lock()
		changed := !bytes.Equal(p.latest().gen.Canonical, d.Canonical)
		p.mu.Unlock()
		if changed {
			if _, err := m.rebuild(p, d.Canonical); err != nil {
				return err
			}
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, p := range m.projs {
		p.mu.Lock()
		p.active.start()
		if p.next != nil {
			p.next.start()
		}
		p.mu.Unlock()
	}
	return nil
}

// Stop stops every engine and closes the store. What was applied is kept;
// the next Start resumes from the checkpoints.
func (m *Manager) Stop(ctx context.Context) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.closed {
		return nil
	}
	if !m.running {
		m.closed = true
		return m.st.close()
	}
	m.running = false
	m.cancel()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("projection: stop: engines still running: %w", ctx.Err())
	}
	m.closed = true
	return m.st.close()
}

func (m *Manager) allocGID() uint64 {
	m.gidMu.Lock()
	defer m.gidMu.Unlock()
	m.lastGID++
	return m.lastGID
}

// writeMeta stores p's generations; call with p.mu held.
func (m *Manager) writeMeta(p *proj) error {
	md := meta{Namespace: p.ns, Name: p.name, Active: p.active.gen}
	if p.next != nil {
		g := p.next.gen
		md.Next = &g
	}
	v, err := json.Marshal(md)
	if err != nil {
		return err
	}
	b := m.st.db.NewBatch()
	defer b.Close()
	m.gidMu.Lock()
	last := binary.BigEndian.AppendUint64(nil, m.lastGID)
	m.gidMu.Unlock()
	if err := b.Set([]byte{kindLastGID}, last, nil); err != nil {
		return err
	}
	if err := b.Set(metaKey(p.ns, p.name), v, nil); err != nil {
		return err
	}
	return b.Commit(nil)
}

func (m *Manager) proj(ns, name string) *proj {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.projs[projKey(ns, name)]
}

// create registers a new projection, its first generation reading the log
// from the start; the caller starts it.
func (m *Manager) create(ns, name string, canonical []byte) (*proj, error) {
	p := &proj{ns: ns, name: name, wake: make(chan struct{})}
	e, err := m.newEngine(p, genMeta{Generation: 1, GID: m.allocGID(), Canonical: canonical, StartedAt: m.now()})
	if err != nil {
		return nil, err
	}
	p.active = e
	if err := m.writeMeta(p); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.projs[projKey(ns, name)] = p
	m.mu.Unlock()
	return p, nil
}

// rebuild starts building a new generation of p from the start of the
// log, replacing a rebuild under way; the caller starts it when the
// manager is not started yet.
func (m *Manager) rebuild(p *proj, canonical []byte) (*engine, error) {
	p.mu.Lock()
	e, err := m.newEngine(p, genMeta{
		Generation: p.latest().gen.Generation + 1, GID: m.allocGID(), Canonical: canonical,
		Target: m.cfg.Feed.Head(), StartedAt: m.now(),
	})
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	old := p.next
	p.next = e
	if err := m.writeMeta(p); err != nil {
		p.next = old
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Unlock()
	if old != nil {
		old.stop()
		m.dropGen(old.gen.GID)
	}
	p.notify()
	return e, nil
}

// dropGen deletes a generation's keys; a failure leaves them for the next
// Start to delete.
func (m *Manager) dropGen(gid uint64) {
	b := m.st.db.NewBatch()
	defer b.Close()
	err := deleteGen(b, gid)
	if err == nil {
		err = b.Commit(nil)
	}
	if err != nil {
		m.log.Warn("old generation not deleted; the next start deletes it", "gid", gid, "err", err)
	}
}

// maybePromote makes e, a generation being built, the one answering
// queries once it has applied up to its target and as far as the active
// one: a status pointer switch, then the old generation's keys go.
func (m *Manager) maybePromote(e *engine) {
	p := e.p
	p.mu.Lock()
	if p.next != e || p.deleted {
		p.mu.Unlock()
		return
	}
	pos := e.pos.Load()
	if pos < e.gen.Target || pos < p.active.pos.Load() || e.failed() != nil {
		p.mu.Unlock()
		return
	}
	old := p.active
	p.active, p.next = e, nil
	e.gen.Target = 0
	if err := m.writeMeta(p); err != nil {
		p.active, p.next = old, e
		p.mu.Unlock()
		e.log.Warn("switching to the rebuilt generation failed; will try again", "err", err)
		return
	}
	p.mu.Unlock()
	p.notify()
	e.log.Info("rebuilt generation now answers queries", "position", pos, "replaced", old.gen.Generation)
	old.stop()
	m.dropGen(old.gen.GID)
}

// Apply creates or changes a projection. A changed definition is built
// into a new generation from the start of the log; queries keep answering
// from the current one until the new one has caught up.
func (m *Manager) Apply(ctx context.Context, ns string, d *Definition) (ApplyResult, error) {
	if d == nil {
		return ApplyResult{}, errors.New("projection: no definition")
	}
	if _, err := Compile(d); err != nil {
		return ApplyResult{}, err
	}
	canonical := d.Canonical()
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if !m.running {
		return ApplyResult{}, ErrStopped
	}
	res := ApplyResult{Name: d.Name}
	p := m.proj(ns, d.Name)
	if p != nil {
		p.mu.Lock()
		latest := p.latest().gen
		p.mu.Unlock()
		if bytes.Equal(latest.Canonical, canonical) {
			res.Outcome, res.Generation = OutcomeUnchanged, latest.Generation
			return res, nil
		}
	}
	if err := m.cfg.Definitions.Put(ctx, ns, d.Name, canonical); err != nil {
		return ApplyResult{}, fmt.Errorf("projection %s: store the definition: %w", d.Name, err)
	}
	if p == nil {
		p, err := m.create(ns, d.Name, canonical)
		if err != nil {
			return ApplyResult{}, err
		}
		p.active.start()
		res.Outcome, res.Generation = OutcomeCreated, 1
		return res, nil
	}
	e, err := m.rebuild(p, canonical)
	if err != nil {
		return ApplyResult{}, err
	}
	e.start()
	res.Outcome, res.Generation = OutcomeUpdated, e.gen.Generation
	return res, nil
}

// Rebuild builds a new generation of a projection from the start of the
// log, with the same definition.
func (m *Manager) Rebuild(ctx context.Context, ns, name string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if !m.running {
		return ErrStopped
	}
	p := m.proj(ns, name)
	if p == nil {
		return ErrNotFound
	}
	p.mu.Lock()
	canonical := p.latest().gen.Canonical
	p.mu.Unlock()
	e, err := m.rebuild(p, canonical)
	if err != nil {
		return err
	}
	e.start()
	return nil
}

// Delete removes a projection, its definition and all its documents.
func (m *Manager) Delete(ctx context.Context, ns, name string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if !m.running {
		return ErrStopped
	}
	p := m.proj(ns, name)
	if p == nil {
		return ErrNotFound
	}
	if err := m.cfg.Definitions.Delete(ctx, ns, name); err != nil {
		return fmt.Errorf("projection %s: delete the definition: %w", name, err)
	}
	m.mu.Lock()
	delete(m.projs, projKey(ns, name))
	m.mu.Unlock()
	p.mu.Lock()
	p.deleted = true
	gens := []*engine{p.active}
	if p.next != nil {
		gens = append(gens, p.next)
	}
	p.mu.Unlock()
	b := m.st.db.NewBatch()
	defer b.Close()
	for _, e := range gens {
		e.stop()
		if err := deleteGen(b, e.gen.GID); err != nil {
			return err
		}
	}
	if err := b.Delete(metaKey(ns, name), nil); err != nil {
		return err
	}
	p.notify()
	return b.Commit(nil)
}

// Resume restarts a projection stopped by a reducer error: with
// skipPosition 0 it retries the event; with the failed event's position it
// skips exactly that event.
func (m *Manager) Resume(ctx context.Context, ns, name string, skipPosition uint64) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if !m.running {
		return ErrStopped
	}
	p := m.proj(ns, name)
	if p == nil {
		return ErrNotFound
	}
	p.mu.Lock()
	e := p.next
	if e == nil || e.failed() == nil {
		e = p.active
	}
	p.mu.Unlock()
	f := e.failed()
	if f == nil {
		return ErrNotFailed
	}
	if skipPosition != 0 && skipPosition != f.Position {
		return &SkipError{Skip: skipPosition, Failed: f.Position}
	}
	e.stop() // its goroutine has ended already; wait for it to be sure
	cp := checkpoint{Position: e.pos.Load()}
	if skipPosition != 0 {
		cp.Position = skipPosition
	}
	b := m.st.db.NewBatch()
	defer b.Close()
	if err := putCheckpoint(b, e.gen.GID, cp); err != nil {
		return err
	}
	if err := b.Commit(nil); err != nil {
		return err
	}
	e.pos.Store(cp.Position)
	e.mu.Lock()
	e.failure = nil
	e.mu.Unlock()
	e.log.Info("projection resumed", "position", cp.Position, "skipped", skipPosition != 0)
	e.start()
	p.notify()
	return nil
}

// Get returns a projection's status and definition.
func (m *Manager) Get(ns, name string) (*Status, error) {
	p := m.proj(ns, name)
	if p == nil {
		return nil, ErrNotFound
	}
	st := m.status(p)
	return &st, nil
}

// List returns the statuses of a namespace's projections, by name.
func (m *Manager) List(ns string) []Status {
	m.mu.RLock()
	var ps []*proj
	for _, p := range m.projs {
		if p.ns == ns {
			ps = append(ps, p)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(ps, func(a, b *proj) int { return strings.Compare(a.name, b.name) })
	out := make([]Status, 0, len(ps))
	for _, p := range ps {
		out = append(out, m.status(p))
	}
	return out
}

func (m *Manager) status(p *proj) Status {
	p.mu.Lock()
	active, next := p.active, p.next
	ag := active.gen
	var ng genMeta
	if next != nil {
		ng = next.gen
	}
	p.mu.Unlock()
	now := m.now()
	head := m.cfg.Feed.Head()
	a := active.status()
	st := Status{Name: p.name, Generation: ag.Generation, Position: a.pos, Definition: ag.Canonical, Error: a.failure}
	if head > a.pos {
		st.LagPositions = head - a.pos
		if !a.behind.IsZero() {
			st.LagSeconds = max(0, now.Sub(a.behind).Seconds())
		}
	}
	switch {
	case a.failure != nil:
		st.State = StateFailed
	case st.LagPositions > m.cfg.LagPositions || st.LagSeconds > m.cfg.LagTime.Seconds():
		st.State = StateCatchingUp
	default:
		st.State = StateRunning
	}
	if next == nil {
		return st
	}
	n := next.status()
	st.Definition = ng.Canonical
	pr := &Progress{Generation: ng.Generation, Position: n.pos, Target: max(ng.Target, a.pos)}
	if secs := now.Sub(n.runAt).Seconds(); secs > 0 && n.pos > n.runFrom {
		pr.Rate = float64(n.pos-n.runFrom) / secs
		if pr.Target > n.pos {
			pr.ETA = time.Duration(float64(pr.Target-n.pos) / pr.Rate * float64(time.Second))
		}
	}
	st.Rebuild = pr
	if n.failure != nil {
		st.State, st.Error = StateFailed, n.failure
	} else {
		// Even when the current generation has failed: the rebuild may
		// be the fix, and its error stays in Error.
		st.State = StateRebuilding
	}
	return st
}

// WaitPosition waits until the projection has applied or skipped every
// event up to pos (read your writes). When ctx ends first, or the
// projection has stopped on a reducer error, it returns a
// *NotCaughtUpError with the position reached.
func (m *Manager) WaitPosition(ctx context.Context, ns, name string, pos uint64) error {
	for {
		p := m.proj(ns, name)
		if p == nil {
			return ErrNotFound
		}
		wake := p.waiter()
		p.mu.Lock()
		e := p.active
		p.mu.Unlock()
		cur := e.pos.Load()
		if cur >= pos {
			return nil
		}
		if f := e.failed(); f != nil {
			return &NotCaughtUpError{Position: cur, Failure: f}
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return &NotCaughtUpError{Position: e.pos.Load(), Err: ctx.Err()}
		}
	}
}

// At selects a past state: the document as of the last event applied at
// or before Position, or recorded at or before Time (when not zero).
type At struct {
	Position uint64
	Time     time.Time
}

// Document is one projected document.
type Document struct {
	Key   string          `json:"key"`
	State json.RawMessage `json:"state"`
	// Position is the last event applied to it.
	Position uint64 `json:"position"`
	Updates  int    `json:"updates"`
}

// Document returns a document now (at nil) or as it was.
func (m *Manager) Document(ctx context.Context, ns, name, key string, at *At) (*Document, error) {
	p := m.proj(ns, name)
	if p == nil {
		return nil, ErrNotFound
	}
	p.mu.Lock()
	gid := p.active.gen.GID
	p.mu.Unlock()
	var d storedDoc
	var ok bool
	var err error
	if at == nil {
		d, ok, err = m.st.doc(m.st.db, gid, key)
	} else {
		d, ok, err = m.st.docAt(gid, key, at.Position, at.Time)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoDocument
	}
	return &Document{Key: key, State: d.State, Position: d.Position, Updates: int(d.Updates)}, nil
}
