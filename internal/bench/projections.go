package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	rand2 "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The projection the bench applies, and the events it projects.
const (
	projName          = "orders"
	ordersProjectionY = `kind: projection
name: ` + projName + `
key: event.subject
initial: '{"status": "new", "total": 0, "items": 0}'
on:
  order.placed: 'state.with({"status": "placed", "total": event.data.total})'
  order.item_added: 'state.with({"items": state.items + 1})'
  order.shipped: 'state.with({"status": "shipped"})'
indexes: [status]
`
	// shippedQuery is the indexed filter timed by the query phase.
	shippedQuery = `{"filter": "doc.status == \"shipped\"", "limit": 100}`
	// orderTag is in every order event's id: event e of the run is
	// <run id>-p-<e>, e counting from 0 over all the run's appends.
	orderTag = "p"
	// typeSalt keeps an event's type independent of its subject, which
	// mix(e) also chooses.
	typeSalt = 0x0dde
	// projStall fails a wait on the projection that sees no progress this
	// long.
	projStall = time.Minute
	// projPoll is how often the bench reads the projection's status while
	// it waits for it to reach a position.
	projPoll = 5 * time.Millisecond
)

// orderEventTypes: 20% placed, 60% items added, 20% shipped; an order's
// status is that of its last placed or shipped event.
var orderEventTypes = [10]string{"order.placed", "order.placed", "order.item_added", "order.item_added", "order.item_added",
	"order.item_added", "order.item_added", "order.item_added", "order.shipped", "order.shipped"}

// orderEvents are events from..from+n-1 of the run in batches of size,
// built as they are sent: event e goes to subject orders[mix(e) % len], and
// its type is chosen by another hash of e, so that any client can build
// any request and the rebuild's million events need not be held.
type orderEvents struct {
	g             *generator
	orders        []string
	from, n, size int
}

var _ requests = (*orderEvents)(nil)

func (w *orderEvents) len() int    { return (w.n + w.size - 1) / w.size }
func (w *orderEvents) events() int { return w.n }
func (w *orderEvents) body(i int, scratch *[]byte) ([]byte, int) {
	return batchBody(scratch, i, w.n, w.size, func(b []byte, e int) []byte { return w.appendEvent(b, w.from+e) })
}

func (w *orderEvents) subject(e int) int { return int(mix(uint64(e)) % uint64(len(w.orders))) }

// appendEvent appends event e of the run.
func (w *orderEvents) appendEvent(b []byte, e int) []byte {
	h := mix(uint64(e) ^ typeSalt)
	return w.appendOrder(b, orderEventTypes[h%10], e, w.orders[w.subject(e)], 100+(h>>32)%100_000)
}

// appendOrder appends event e of type typ for order subject, data
// {"total": total, "n": e, "pad": "x…"} padded to the generator's size.
func (w *orderEvents) appendOrder(b []byte, typ string, e int, subject string, total uint64) []byte {
	start := len(b)
	b = w.g.appendEnvelope(b, typ, orderTag, e, subject)
	b = append(b, `{"total":`...)
	b = strconv.AppendUint(b, total, 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, int64(e), 10)
	b = append(b, `,"pad":"`...)
	const tail = `"}}`
	for pad := w.g.size - (len(b) - start) - len(tail); pad > 0; pad-- {
		b = append(b, 'x')
	}
	return append(b, tail...)
}

// materialize builds every request of w before a timed phase.
func (w *orderEvents) materialize() *workload {
	out := &workload{bodies: make([][]byte, w.len()), counts: make([]int, w.len()), nEvents: w.n}
	arena := make([]byte, 0, w.n*(w.g.size+1)+2*w.len())
	var scratch []byte
	for i := range out.bodies {
		body, k := w.body(i, &scratch)
		start := len(arena)
		arena = append(arena, body...)
		out.bodies[i], out.counts[i] = arena[start:len(arena):len(arena)], k
	}
	return out
}

func orderSubjects(n int) []string {
	s := make([]string, n)
	width := len(strconv.Itoa(n - 1))
	for i := range s {
		s[i] = fmt.Sprintf("order-%0*d", width, i)
	}
	return s
}

// minEventBytes is the size of the largest order event with no padding:
// the longest type, total and event number.
func (c *ProjectionsConfig) minEventBytes() int {
	g := &generator{runID: "00000000", time: time.Now().UTC().Format(time.RFC3339Nano)}
	orders := orderSubjects(max(c.Orders, 1))
	w := &orderEvents{g: g, orders: orders}
	last := max(c.Events, 1) + max(c.RebuildEvents, 0)
	return len(w.appendOrder(nil, "order.item_added", last, orders[0], 100_099))
}

// projStatus is GET /v1/projections/{name}.
type projStatus struct {
	State        string  `json:"state"`
	Generation   int     `json:"generation"`
	Position     uint64  `json:"position"`
	LagPositions uint64  `json:"lag_positions"`
	LagSeconds   float64 `json:"lag_seconds"`
	Error        *struct {
		Position uint64 `json:"position"`
		Error    string `json:"error"`
	} `json:"error"`
	Rebuild *struct {
		Generation int           `json:"generation"`
		Position   uint64        `json:"position"`
		Target     uint64        `json:"target"`
		Rate       float64       `json:"rate"`
		ETA        time.Duration `json:"eta"`
	} `json:"rebuild"`
}

// failed is the projection's reducer error as an error, nil if none.
func (s *projStatus) failed() error {
	if s.State != "failed" {
		return nil
	}
	if s.Error != nil {
		return fmt.Errorf("projection %s failed at position %d: %s", projName, s.Error.Position, s.Error.Error)
	}
	return fmt.Errorf("projection %s failed", projName)
}

func (c *client) projectionStatus(ctx context.Context, buf *bytes.Buffer) (projStatus, error) {
	var st projStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/projections/"+projName, nil)
	if err != nil {
		return st, err
	}
	if err := c.do(req, buf); err != nil {
		return st, err
	}
	if err := json.Unmarshal(buf.Bytes(), &st); err != nil {
		return st, fmt.Errorf("GET /v1/projections/%s: %w", projName, err)
	}
	return st, nil
}

// applyResult is the apply phase's figures.
type applyResult struct {
	ingest appendResult
	// elapsed is from the first append until the projection's position
	// reached the last appended one; caughtUp from the last append's
	// answer until then.
	elapsed, caughtUp time.Duration
	// lagEnd is the status read as the last append was answered; maxLag
	// the largest lag in positions seen while appending.
	lagEnd projStatus
	maxLag uint64
}

func (a applyResult) rate() float64 { return float64(a.ingest.events) / a.elapsed.Seconds() }

type rebuildResult struct {
	positions  uint64 // the log positions the new generation read
	elapsed    time.Duration
	serverRate float64 // the status's rate, last seen
	cpu        time.Duration
	filled     int // events appended first to reach RebuildEvents
}

func (r rebuildResult) rate() float64 { return float64(r.positions) / r.elapsed.Seconds() }

// latencyStats are a query phase's figures.
type latencyStats struct {
	n        int
	elapsed  time.Duration
	p50, p99 time.Duration
	docs     float64 // documents per answer, on average (queries)
}

func (l latencyStats) rate() float64 { return float64(l.n) / l.elapsed.Seconds() }

type projResult struct {
	ceiling     appendResult
	apply       applyResult
	get, query  latencyStats
	rebuild     rebuildResult
	others      others
	keys, total int // order keys with documents; events in the log at the end
}

// RunProjections runs the projections benchmark described on
// ProjectionsConfig and writes its report to out: the ceiling, the apply
// rate of an orders projection while events are ingested, the latency of
// reading documents and of an indexed query, and the rate of a rebuild
// over cfg.RebuildEvents events. Every request must succeed and the
// projection must not fail: the first failure stops the run with an error.
func RunProjections(ctx context.Context, cfg ProjectionsConfig, out io.Writer) error {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	r, err := newRun(cfg.ingest(), out, "bench-projections")
	if err != nil {
		return err
	}
	defer os.RemoveAll(r.dir)
	p := &projRun{run: r, pc: cfg, orders: orderSubjects(cfg.Orders)}
	if err := p.runAll(ctx); err != nil {
		return fmt.Errorf("bench projections: %w", err)
	}
	return nil
}

// projRun is one run of the projections bench, on the ingest bench's
// machinery.
type projRun struct {
	*run
	pc     ProjectionsConfig
	orders []string
	cl     *client
	res    projResult
}

func (p *projRun) runAll(ctx context.Context) (err error) {
	cfg := &p.pc
	stop, err := p.startServers(ctx, max(cfg.Clients, cfg.QueryClients))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	p.cl = newClient(p.tgt.url, cfg.Namespace+projNamespaceSuffix, max(cfg.Clients, cfg.QueryClients))
	p.cl.ownProcs = p.tgt.cl.ownProcs
	defer p.cl.close()
	res := &p.res

	if res.ceiling, err = p.measureCeiling(ctx, "pa", cfg.CeilingEvents, &res.others); err != nil {
		return err
	}
	if err := p.cl.putYAML(ctx, "/v1/projections/"+projName, ordersProjectionY); err != nil {
		return err
	}
	if err := p.measureApply(ctx); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := p.measureQueries(ctx); err != nil {
		return fmt.Errorf("queries: %w", err)
	}
	res.total = int(res.apply.ingest.lastPos)
	if cfg.RebuildEvents > 0 {
		if err := p.measureRebuild(ctx); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	p.report()
	return nil
}

// measureApply appends cfg.Events order events in batches while the
// projection applies them, and times until it has applied the last.
func (p *projRun) measureApply(ctx context.Context) error {
	cfg, res := &p.pc, &p.res.apply
	w := (&orderEvents{g: p.gen, orders: p.orders, from: 0, n: cfg.Events, size: cfg.BatchSize}).materialize()
	if err := p.settle(ctx, "the apply phase"); err != nil {
		return err
	}
	p.progress("  apply: %s order events over %s orders in batches of %d from %d clients, projection %s applying",
		thousands(float64(cfg.Events)), thousands(float64(cfg.Orders)), cfg.BatchSize, cfg.Clients, projName)
	var begin time.Time
	cpu, err := p.res.others.timed(p.tgt.child, func() error {
		watch := p.watchLag(ctx)
		ingest, err := p.cl.appendAll(ctx, "apply", ctBatch, w, cfg.Clients, nil)
		answered := time.Now()
		res.maxLag = watch()
		if err != nil {
			return err
		}
		res.ingest, begin = ingest, answered.Add(-ingest.elapsed)
		var buf bytes.Buffer
		if res.lagEnd, err = p.cl.projectionStatus(ctx, &buf); err != nil {
			return err
		}
		res.maxLag = max(res.maxLag, res.lagEnd.LagPositions)
		at, err := p.waitPosition(ctx, ingest.lastPos)
		res.elapsed, res.caughtUp = at.Sub(begin), at.Sub(answered)
		return err
	})
	res.ingest.cpu = cpu
	if err != nil {
		return err
	}
	p.progress("  apply: ingest %s events/s (%.2f of (a)); projection applied %s events/s (%.2f of (a)), caught up %s after the last append; lag then %s positions, %.2f s",
		thousands(res.ingest.rate()), res.ingest.rate()/p.res.ceiling.rate(), thousands(res.rate()), res.rate()/p.res.ceiling.rate(),
		res.caughtUp.Round(time.Millisecond), thousands(float64(res.lagEnd.LagPositions)), res.lagEnd.LagSeconds)
	return nil
}

// watchLag reads the projection's status every 100 ms until the returned
// function is called, which returns the largest lag seen, in positions.
func (p *projRun) watchLag(ctx context.Context) func() uint64 {
	ctx, cancel := context.WithCancel(ctx)
	var most atomic.Uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		var buf bytes.Buffer
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if st, err := p.cl.projectionStatus(ctx, &buf); err == nil {
				storeMax(&most, st.LagPositions)
			}
		}
	})
	return func() uint64 {
		cancel()
		wg.Wait()
		return most.Load()
	}
}

// waitPosition polls the projection's status until its position reaches
// pos and returns when it saw it there. A projection that fails, or makes
// no progress for projStall, is an error.
func (p *projRun) waitPosition(ctx context.Context, pos uint64) (time.Time, error) {
	var buf bytes.Buffer
	var last uint64
	moved := time.Now()
	for {
		st, err := p.cl.projectionStatus(ctx, &buf)
		now := time.Now()
		if err != nil {
			return now, err
		}
		if err := st.failed(); err != nil {
			return now, err
		}
		if st.Position >= pos {
			return now, nil
		}
		if st.Position != last {
			last, moved = st.Position, now
		} else if now.Sub(moved) > projStall {
			return now, fmt.Errorf("projection %s stuck at position %d for %s, waiting for %d (state %s)", projName, st.Position, projStall, pos, st.State)
		}
		select {
		case <-ctx.Done():
			return now, ctx.Err()
		case <-time.After(projPoll):
		}
	}
}

// measureQueries times GET document (random keys that have a document)
// and the indexed filter, cfg.Queries requests each from cfg.QueryClients
// clients.
func (p *projRun) measureQueries(ctx context.Context) error {
	cfg := &p.pc
	ev := &orderEvents{orders: p.orders}
	has := make([]bool, len(p.orders))
	for e := range cfg.Events {
		has[ev.subject(e)] = true
	}
	var keys []string
	for i, ok := range has {
		if ok {
			keys = append(keys, p.orders[i])
		}
	}
	p.res.keys = len(keys)
	rnd := rand2.New(rand2.NewPCG(streamSeed, typeSalt))
	paths := make([]string, cfg.Queries)
	for i := range paths {
		paths[i] = "/v1/projections/" + projName + "/documents/" + url.PathEscape(keys[rnd.IntN(len(keys))])
	}
	if err := p.settle(ctx, "the get phase"); err != nil {
		return err
	}
	var err error
	p.progress("  get: %s GET document of random keys (of %s) from %d clients", thousands(float64(cfg.Queries)), thousands(float64(len(keys))), cfg.QueryClients)
	if p.res.get, err = p.latencies(ctx, "get", func(i int) (string, string, []byte) { return http.MethodGet, paths[i], nil }); err != nil {
		return err
	}
	p.progress("  get: p50 %s, p99 %s, %s requests/s", ms(p.res.get.p50), ms(p.res.get.p99), thousands(p.res.get.rate()))
	if err := p.settle(ctx, "the query phase"); err != nil {
		return err
	}
	p.progress("  query: %s POST query %s from %d clients", thousands(float64(cfg.Queries)), shippedQuery, cfg.QueryClients)
	body := []byte(shippedQuery)
	path := "/v1/projections/" + projName + "/query"
	if p.res.query, err = p.latencies(ctx, "query", func(int) (string, string, []byte) { return http.MethodPost, path, body }); err != nil {
		return err
	}
	if p.res.query.docs < 1 {
		return fmt.Errorf("the indexed query %s found no documents", shippedQuery)
	}
	p.progress("  query: p50 %s, p99 %s, %s requests/s, %.0f documents per answer", ms(p.res.query.p50), ms(p.res.query.p99), thousands(p.res.query.rate()), p.res.query.docs)
	return nil
}

var docKey = []byte(`"key":`)

// latencies sends cfg.Queries requests (request i from req) from
// cfg.QueryClients keep-alive connections, each answer must be 200, and
// returns their latency percentiles.
func (p *projRun) latencies(ctx context.Context, phase string, req func(i int) (method, path string, body []byte)) (latencyStats, error) {
	cfg := &p.pc
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := cfg.Queries
	lat := make([]time.Duration, n)
	fail := &failures{cancel: cancel}
	var next, docs atomic.Int64
	conns := make([]*rawConn, cfg.QueryClients)
	for k := range conns {
		rc, err := dialRaw(ctx, p.cl.base, p.cl.ns)
		if err != nil {
			for _, rc := range conns[:k] {
				rc.close()
			}
			return latencyStats{}, fmt.Errorf("%s: connect: %w", phase, err)
		}
		conns[k] = rc
		defer rc.close()
	}
	var wg sync.WaitGroup
	var start time.Time
	_, _ = p.res.others.timed(p.tgt.child, func() error {
		start = time.Now()
		for _, rc := range conns {
			wg.Go(func() {
				var buf bytes.Buffer
				for ctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					method, path, body := req(i)
					t0 := time.Now()
					status, err := rc.request(ctx, method, path, "application/json", body, &buf)
					lat[i] = time.Since(t0)
					if err == nil && status != http.StatusOK {
						err = &requestError{what: method + " " + path, status: status, body: clip(buf.String(), 300)}
					}
					if err != nil {
						if ctx.Err() == nil {
							fail.add(err)
						}
						return
					}
					docs.Add(int64(bytes.Count(buf.Bytes(), docKey)))
				}
			})
		}
		wg.Wait()
		return nil
	})
	res := latencyStats{n: n, elapsed: time.Since(start), docs: float64(docs.Load()) / float64(n)}
	if err := fail.err(phase); err != nil {
		return res, err
	}
	res.p50, res.p99 = percentiles(lat)
	return res, ctx.Err()
}

// measureRebuild appends order events until the log holds
// cfg.RebuildEvents, waits for the projection to apply them, then rebuilds
// it and times until the new generation answers.
func (p *projRun) measureRebuild(ctx context.Context) error {
	cfg, res := &p.pc, &p.res.rebuild
	have := p.res.apply.ingest.lastPos
	if fill := cfg.RebuildEvents - int(have); fill > 0 {
		res.filled = fill
		w := &orderEvents{g: p.gen, orders: p.orders, from: cfg.Events, n: fill, size: cfg.BatchSize}
		p.progress("  rebuild: the log holds %s events; appending %s more orders first (untimed)", thousands(float64(have)), thousands(float64(fill)))
		every := max(w.len()/10, 1)
		start := time.Now()
		more, err := p.cl.appendAll(ctx, "fill", ctBatch, w, cfg.Clients, func(done int) {
			if done%every == 0 && done < w.len() {
				p.progress("    %s of %s events appended (%s events/s)", thousands(float64(done*cfg.BatchSize)), thousands(float64(fill)),
					thousands(float64(done*cfg.BatchSize)/time.Since(start).Seconds()))
			}
		})
		if err != nil {
			return err
		}
		p.progress("    appended at %s events/s; waiting for the projection to apply them", thousands(more.rate()))
		at, err := p.waitPosition(ctx, more.lastPos)
		if err != nil {
			return err
		}
		p.progress("    the projection caught up %s after the last append", at.Sub(start.Add(more.elapsed)).Round(time.Millisecond))
		p.res.total = int(more.lastPos)
	}
	if err := p.settle(ctx, "the rebuild"); err != nil {
		return err
	}
	var buf bytes.Buffer
	before, err := p.cl.projectionStatus(ctx, &buf)
	if err != nil {
		return err
	}
	p.progress("  rebuild: POST /v1/projections/%s/rebuild over %s log positions", projName, thousands(float64(before.Position+before.LagPositions)))
	path := "/v1/projections/" + projName + "/rebuild"
	var start time.Time
	res.cpu, err = p.res.others.timed(p.tgt.child, func() error {
		start = time.Now()
		status, err := p.cl.send(ctx, http.MethodPost, path, "application/json", nil, &buf)
		if err != nil {
			return err
		}
		if status != http.StatusAccepted {
			return &requestError{what: "POST " + path, status: status, body: clip(buf.String(), 300)}
		}
		return p.waitRebuilt(ctx, before.Generation, start, res)
	})
	if err != nil {
		return err
	}
	p.progress("  rebuild: %s positions in %s: %s events/s (the server's own rate, last seen: %s/s)",
		thousands(float64(res.positions)), res.elapsed.Round(time.Millisecond), thousands(res.rate()), thousands(res.serverRate))
	return nil
}

// waitRebuilt polls the status until a generation after gen runs, noting
// the rebuild's progress.
func (p *projRun) waitRebuilt(ctx context.Context, gen int, start time.Time, res *rebuildResult) error {
	var buf bytes.Buffer
	var last uint64
	moved, told := start, start
	for {
		st, err := p.cl.projectionStatus(ctx, &buf)
		now := time.Now()
		if err != nil {
			return err
		}
		if err := st.failed(); err != nil {
			return err
		}
		if r := st.Rebuild; r != nil {
			res.positions, res.serverRate = r.Target, r.Rate
			if r.Position != last {
				last, moved = r.Position, now
			}
			if now.Sub(told) >= 5*time.Second {
				told = now
				p.progress("    generation %d at %s of %s (%s/s, ETA %s)", r.Generation, thousands(float64(r.Position)), thousands(float64(r.Target)),
					thousands(r.Rate), r.ETA.Round(time.Second))
			}
		}
		if st.Generation > gen && st.Rebuild == nil {
			res.elapsed = now.Sub(start)
			if res.positions == 0 { // done before a status showed it
				res.positions = st.Position
			}
			return nil
		}
		if now.Sub(moved) > projStall {
			return fmt.Errorf("the rebuild made no progress for %s (at %d; state %s)", projStall, last, st.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// report writes the table and the ratios.
func (p *projRun) report() {
	cfg, res, w := &p.pc, &p.res, p.out
	heading(w, "projections", p.start)
	describeServer(w, cfg.ServerURL, cfg.ServerCommand)
	fmt.Fprintf(w, "ceiling: the ingest bench's (a): embedded JetStream in this process, PublishAsync from 1 goroutine, at most %d pending, %s events\n",
		cfg.CeilingMaxPending, thousands(float64(cfg.CeilingEvents)))
	fmt.Fprintf(w, "events:  %d B CloudEvents JSON, types order.placed 20%%, order.item_added 60%%, order.shipped 20%%, over %s order subjects; namespace %s\n",
		cfg.PayloadBytes, thousands(float64(cfg.Orders)), p.cl.ns)
	fmt.Fprintf(w, "projection: %s (key event.subject, 3 reducers, indexes [status]), applied before the events\n", projName)
	fmt.Fprintf(w, "apply:   %s events in batches of %d from %d clients; apply rate = events / (first append → the status's position reaches the last appended position, polled every %s)\n",
		thousands(float64(cfg.Events)), cfg.BatchSize, cfg.Clients, projPoll)
	fmt.Fprintf(w, "queries: %s requests each from %d keep-alive clients: GET document of random keys (%s with a document), and POST query %s\n",
		thousands(float64(cfg.Queries)), cfg.QueryClients, thousands(float64(res.keys)), shippedQuery)
	if cfg.RebuildEvents > 0 {
		fmt.Fprintf(w, "rebuild: POST rebuild → a new generation running (status polled every 20ms), over the log's %s events (%s appended for it, untimed)\n",
			thousands(float64(res.total)), thousands(float64(res.rebuild.filled)))
	}
	fmt.Fprintf(w, "machine: load average %s at the start, %s at the end\n\n", p.load, loadavg())

	t := &table{w: w, n: 1, label: 60}
	t.header("")
	one := func(v float64) []float64 { return []float64{v} }
	ceil := res.ceiling.rate()
	a := &res.apply
	t.row("(a)  ceiling, events/s", one(ceil), thousands)
	t.row("apply: ingest, events/s", one(a.ingest.rate()), thousands)
	t.row("apply: projection applied, events/s", one(a.rate()), thousands)
	t.row("apply: caught up after the last append, s", one(a.caughtUp.Seconds()), fixed2)
	t.row("apply: lag at the end of ingest, positions", one(float64(a.lagEnd.LagPositions)), thousands)
	t.row("apply: lag at the end of ingest, s", one(a.lagEnd.LagSeconds), fixed2)
	t.row("apply: largest lag seen while ingesting, positions", one(float64(a.maxLag)), thousands)
	t.row("apply: CPU per event (ingest + apply, bench + server), µs", one(a.ingest.cpuPerEvent()), fixed1)
	t.row("get document: p50 ms", one(msf(res.get.p50)), fixed2)
	t.row("get document: p99 ms", one(msf(res.get.p99)), fixed2)
	t.row("get document: requests/s", one(res.get.rate()), thousands)
	t.row("query status == shipped, limit 100: p50 ms", one(msf(res.query.p50)), fixed2)
	t.row("query status == shipped, limit 100: p99 ms", one(msf(res.query.p99)), fixed2)
	t.row("query status == shipped, limit 100: requests/s", one(res.query.rate()), thousands)
	if cfg.RebuildEvents > 0 {
		r := &res.rebuild
		t.row("rebuild: log positions read", one(float64(r.positions)), thousands)
		t.row("rebuild: events/s (POST → new generation running)", one(r.rate()), thousands)
		t.row("rebuild: the status's rate, last seen, positions/s", one(r.serverRate), thousands)
		cpu := math.NaN()
		if r.cpu >= 0 && r.positions > 0 {
			cpu = float64(r.cpu.Microseconds()) / float64(r.positions)
		}
		t.row("rebuild: CPU per event (bench + server), µs", one(cpu), fixed1)
	}
	t.noise(cfg.ServerURL != "", one(res.others.share()))
	t.ratio("ingest while applying / a", one(a.ingest.rate()/ceil))
	t.ratio("apply / a", one(a.rate()/ceil))
	t.ratio("apply / ingest", one(a.rate()/a.ingest.rate()))
	if cfg.RebuildEvents > 0 {
		t.ratio("rebuild / a", one(res.rebuild.rate()/ceil))
	}
}
