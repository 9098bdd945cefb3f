package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// repetition holds one repetition's figures.
type repetition struct {
	ceiling, batch, oneStream, single appendResult
	noSchema, schema                  appendResult // (s0), (s)
	singleP50, singleP99              time.Duration
	readLog, readStream               readResult
	// others is the CPU the rest of the machine used during the timed parts.
	others others
}

// RunIngest runs the ingest benchmark described on IngestConfig and writes
// its report to out: events/s of every phase in every repetition, their
// medians, the paired ratios (a line starting "ratio b/a") and the
// server's resident memory after cfg.RSSEvents events. Every request must
// succeed: the first failure stops the run with an error.
func RunIngest(ctx context.Context, cfg IngestConfig, out io.Writer) error {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	r, err := newRun(cfg, out, "bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(r.dir)
	return r.run(ctx)
}

// newRun starts a run of the bench named bench, with a temporary
// directory of its own that the caller removes.
func newRun(cfg IngestConfig, out io.Writer, bench string) (*run, error) {
	dir, err := os.MkdirTemp("", "ensue-"+bench+"-")
	if err != nil {
		return nil, fmt.Errorf("%s: temporary directory: %w", bench, err)
	}
	return &run{cfg: cfg, out: out, gen: newGenerator(&cfg), start: time.Now(), load: loadavg(), dir: dir}, nil
}

// startServers starts the ceiling's JetStream and the server under test
// (or connects to it) for a bench whose phases need conns connections; the
// returned function stops both.
func (r *run) startServers(ctx context.Context, conns int) (stop func() error, err error) {
	r.progress("starting the ceiling's embedded JetStream in %s", r.dir)
	if r.ceil, err = startCeiling(ctx, filepath.Join(r.dir, "ceiling"), r.cfg.CeilingMaxPending); err != nil {
		return nil, err
	}
	if r.tgt, err = r.startTarget(ctx, "server", conns); err != nil {
		r.ceil.close()
		return nil, err
	}
	r.progress("Ensue at %s", r.tgt.url)
	return func() error {
		defer r.ceil.close()
		return r.tgt.stop()
	}, nil
}

type run struct {
	cfg   IngestConfig
	out   io.Writer
	gen   *generator
	dir   string
	start time.Time
	load  string // load average at the start

	progressMu sync.Mutex // progress lines come from the clients too

	ceil *ceiling
	tgt  *target
	reps []repetition
	rss  rssResult

	// noSchemaCl and schemaCl append to the schema phases' namespaces.
	noSchemaCl, schemaCl *client
}

func (r *run) progress(format string, args ...any) {
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	fmt.Fprintf(r.cfg.Progress, "bench %6.1fs  %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *run) run(ctx context.Context) (err error) {
	cfg := &r.cfg
	conns := max(cfg.Clients, cfg.SingleClients)
	r.progress("starting the ceiling's embedded JetStream in %s", r.dir)
	if r.ceil, err = startCeiling(ctx, filepath.Join(r.dir, "ceiling"), cfg.CeilingMaxPending); err != nil {
		return err
	}
	defer func() {
		if r.ceil != nil {
			r.ceil.close()
		}
	}()
	if r.tgt, err = r.startTarget(ctx, "server", conns); err != nil {
		return err
	}
	defer func() {
		if r.tgt != nil {
			err = errors.Join(err, r.tgt.stop())
		}
	}()
	r.progress("Ensue at %s", r.tgt.url)
	if !cfg.NoSchemaPhases {
		if err := r.prepareSchemaPhases(ctx); err != nil {
			return fmt.Errorf("bench: schema phases: %w", err)
		}
	}
	for i := range cfg.Repetitions {
		rep, err := r.repetition(ctx, i+1)
		if err != nil {
			return fmt.Errorf("bench: repetition %d: %w", i+1, err)
		}
		r.reps = append(r.reps, rep)
	}
	r.reportPhases()
	if cfg.RSSEvents > 0 {
		if err := r.rssRun(ctx); err != nil {
			return fmt.Errorf("bench: RSS run: %w", err)
		}
		r.reportRSS()
	}
	return nil
}

// startTarget connects to the server under test, or starts one with its
// data in the run's directory under name.
func (r *run) startTarget(ctx context.Context, name string, conns int) (*target, error) {
	cfg := &r.cfg
	switch {
	case cfg.ServerURL != "":
		r.progress("using the Ensue server at %s", cfg.ServerURL)
		return external(ctx, cfg.ServerURL, cfg.Namespace, conns)
	case len(cfg.ServerCommand) > 0:
		r.progress("starting an Ensue server as a child process: %s", strings.Join(cfg.ServerCommand, " "))
		return startChildTarget(ctx, cfg.ServerCommand, filepath.Join(r.dir, name), cfg.Namespace, conns)
	default:
		r.progress("starting an in-process Ensue server")
		return startInProcess(ctx, filepath.Join(r.dir, name), cfg.Namespace, conns)
	}
}

// settle lets the server rest before a phase.
func (r *run) settle(ctx context.Context, what string) error {
	waited, idle, err := r.tgt.settle(ctx, r.cfg.Settle)
	if err != nil {
		return err
	}
	if !idle {
		r.progress("  the server was still busy after %s; running %s anyway", waited.Round(time.Millisecond), what)
	}
	return nil
}

func (r *run) repetition(ctx context.Context, n int) (repetition, error) {
	cfg := &r.cfg
	var rep repetition
	tag := func(p string) string { return fmt.Sprintf("%s%d", p, n) }
	r.progress("repetition %d of %d", n, cfg.Repetitions)

	// (a) the ceiling.
	var err error
	if rep.ceiling, err = r.measureCeiling(ctx, tag("a"), cfg.Events, &rep.others); err != nil {
		return rep, err
	}

	// (b) batches over many streams.
	w := r.gen.batches(tag("b"), cfg.Events, cfg.BatchSize, r.gen.picker().next)
	if err := r.settle(ctx, "(b)"); err != nil {
		return rep, err
	}
	if err := rep.timedAppend(r.tgt.child, &rep.batch, func() (appendResult, error) { return r.tgt.cl.appendAll(ctx, "(b)", ctBatch, w, cfg.Clients, nil) }); err != nil {
		return rep, err
	}
	r.progress("  (b)  batches, %s streams: %s events/s (%.2f of (a))", thousands(float64(cfg.Streams)), thousands(rep.batch.rate()), rep.batch.rate()/rep.ceiling.rate())

	// (s0), (s): (b) with orders, not validated and validated.
	if !cfg.NoSchemaPhases {
		if err := r.schemaPhases(ctx, n, &rep); err != nil {
			return rep, err
		}
	}

	// (b') batches into one stream.
	one := oneStream(n)
	w = r.gen.batches(tag("o"), cfg.Events, cfg.BatchSize, func() string { return one })
	if err := r.settle(ctx, "(b')"); err != nil {
		return rep, err
	}
	if err := rep.timedAppend(r.tgt.child, &rep.oneStream, func() (appendResult, error) { return r.tgt.cl.appendAll(ctx, "(b')", ctBatch, w, cfg.Clients, nil) }); err != nil {
		return rep, err
	}
	r.progress("  (b') batches, one stream: %s events/s (%.2f of (a))", thousands(rep.oneStream.rate()), rep.oneStream.rate()/rep.ceiling.rate())

	// (c) single events.
	w = r.gen.singles(tag("c"), cfg.SingleEvents, r.gen.picker().next)
	if err := r.settle(ctx, "(c)"); err != nil {
		return rep, err
	}
	if err := rep.timedAppend(r.tgt.child, &rep.single, func() (appendResult, error) {
		return r.tgt.cl.appendAll(ctx, "(c)", ctSingle, w, cfg.SingleClients, nil)
	}); err != nil {
		return rep, err
	}
	rep.singleP50, rep.singleP99 = percentiles(rep.single.latency)
	r.progress("  (c)  single events: %s events/s, p50 %s, p99 %s", thousands(rep.single.rate()), ms(rep.singleP50), ms(rep.singleP99))

	// Reads: this repetition's (b) events in the global log, then (b')'s stream.
	if err := r.settle(ctx, "the global read"); err != nil {
		return rep, err
	}
	if _, err := rep.timed(r.tgt.child, func() (err error) {
		rep.readLog, err = r.tgt.cl.readLog(ctx, rep.batch.firstPos-1, cfg.ReadEvents, cfg.ReadPageSize)
		return
	}); err != nil {
		return rep, err
	}
	r.progress("  read global log: %s events/s (%s events)", thousands(rep.readLog.rate()), thousands(float64(rep.readLog.events)))
	if err := r.settle(ctx, "the stream read"); err != nil {
		return rep, err
	}
	if _, err := rep.timed(r.tgt.child, func() (err error) {
		rep.readStream, err = r.tgt.cl.readStream(ctx, one, cfg.ReadEvents, cfg.ReadPageSize)
		return
	}); err != nil {
		return rep, err
	}
	r.progress("  read one stream: %s events/s (%s events)", thousands(rep.readStream.rate()), thousands(float64(rep.readStream.events)))
	return rep, nil
}

// The schema phases' namespaces are the bench's namespace with these
// suffixes.
const (
	noSchemaSuffix = "-noschema"
	schemaSuffix   = "-schema"
)

// prepareSchemaPhases readies the schema phases' namespaces: validation off
// in one; in the other, orderSchema registered for orderType and enforced,
// which an invalid order refused with 422 proves before anything is timed.
func (r *run) prepareSchemaPhases(ctx context.Context) error {
	cfg := &r.cfg
	r.noSchemaCl = r.tgt.cl.in(cfg.Namespace + noSchemaSuffix)
	r.schemaCl = r.tgt.cl.in(cfg.Namespace + schemaSuffix)
	if err := r.tgt.cl.put(ctx, "/v1/namespaces/"+r.noSchemaCl.ns+"/settings", []byte(`{"schema_mode":"off"}`)); err != nil {
		return err
	}
	if err := r.schemaCl.put(ctx, "/v1/schemas/"+orderType, orderSchema(cfg.PayloadBytes)); err != nil {
		return fmt.Errorf("register the orders' schema: %w", err)
	}
	if err := r.tgt.cl.put(ctx, "/v1/namespaces/"+r.schemaCl.ns+"/settings", []byte(`{"schema_mode":"enforce"}`)); err != nil {
		return err
	}
	bad := orderFor(0, r.gen.placedBy)
	bad.status = "lost"
	var buf bytes.Buffer
	status, err := r.schemaCl.send(ctx, http.MethodPost, "/v1/events", ctSingle, r.gen.appendOrder(nil, "probe", 0, r.gen.streams[0], bad, 0), &buf)
	if err != nil {
		return err
	}
	if status != http.StatusUnprocessableEntity {
		return fmt.Errorf("namespace %s does not enforce the orders' schema: an order with status \"lost\" was answered %d, not 422: %s", r.schemaCl.ns, status, clip(buf.String(), 300))
	}
	r.progress("schema %s registered in namespace %s and enforced (an invalid order was refused); namespace %s validates nothing", orderType, r.schemaCl.ns, r.noSchemaCl.ns)
	return nil
}

// schemaPhases runs (s0) and (s) of repetition n: (b)'s workload with
// orders, to the namespace that validates nothing and to the one that
// enforces the orders' schema. Their order alternates between
// repetitions, so that neither always runs second, on a larger log.
func (r *run) schemaPhases(ctx context.Context, n int, rep *repetition) error {
	cfg := &r.cfg
	type phase struct {
		name, tag string
		cl        *client
		into      *appendResult
	}
	phases := []phase{{"(s0)", "n", r.noSchemaCl, &rep.noSchema}, {"(s)", "s", r.schemaCl, &rep.schema}}
	if n%2 == 0 {
		phases[0], phases[1] = phases[1], phases[0]
	}
	for _, p := range phases {
		w := r.gen.orders(fmt.Sprintf("%s%d", p.tag, n), cfg.Events, cfg.BatchSize, r.gen.picker().next)
		if err := r.settle(ctx, p.name); err != nil {
			return err
		}
		if err := rep.timedAppend(r.tgt.child, p.into, func() (appendResult, error) {
			return p.cl.appendAll(ctx, p.name, ctBatch, w, cfg.Clients, nil)
		}); err != nil {
			return err
		}
		r.progress("  %-4s orders, namespace %s: %s events/s (%.2f of (a))", p.name, p.cl.ns, thousands(p.into.rate()), p.into.rate()/rep.ceiling.rate())
	}
	r.progress("  (s)/(s0): %.2f", rep.schema.rate()/rep.noSchema.rate())
	return nil
}

// measureCeiling runs phase (a): n events, built beforehand, published to
// the ceiling's JetStream once the server has settled.
func (r *run) measureCeiling(ctx context.Context, tag string, n int, o *others) (appendResult, error) {
	w := r.gen.singles(tag, n, r.gen.picker().next)
	if err := r.settle(ctx, "(a)"); err != nil {
		return appendResult{}, err
	}
	var res appendResult
	cpu, err := o.timed(r.tgt.child, func() (err error) {
		res, err = r.ceil.publish(ctx, w)
		return err
	})
	res.cpu = cpu
	if err != nil {
		return res, err
	}
	r.progress("  (a)  ceiling: %s events/s", thousands(res.rate()))
	return res, nil
}

// timedAppend runs an append phase with timed, into *into.
func (rep *repetition) timedAppend(c *child, into *appendResult, f func() (appendResult, error)) error {
	var res appendResult
	cpu, err := rep.timed(c, func() (err error) {
		res, err = f()
		return err
	})
	res.cpu = cpu
	*into = res
	return err
}

// timed runs one timed part, noting the CPU the rest of the machine used,
// and returns the CPU the bench (and its child server) used, -1 if unknown.
func (rep *repetition) timed(c *child, f func() error) (time.Duration, error) {
	return rep.others.timed(c, f)
}

func oneStream(rep int) string { return fmt.Sprintf("bench-one-%d", rep) }

type rssResult struct {
	events        int
	before, after uint64 // bytes
	heapInuse     uint64 // in-process only
	rate          float64
	fresh         bool // a fresh server, started by the bench
}

// rssRun appends cfg.RSSEvents events (as (b) does, built as they are
// sent) and reads the server's resident memory once it has settled. When
// the bench started the server, it first stops everything else and starts
// a fresh server, so that the figure is that of a server after exactly
// that many events.
func (r *run) rssRun(ctx context.Context) error {
	cfg := &r.cfg
	var err error
	if cfg.ServerURL == "" {
		r.ceil.close()
		r.ceil = nil
		err := r.tgt.stop()
		r.tgt = nil
		if err != nil {
			return err
		}
		runtime.GC()
		debug.FreeOSMemory()
		if r.tgt, err = r.startTarget(ctx, "rss", cfg.Clients); err != nil {
			return err
		}
		r.rss.fresh = true
	}
	if r.rss.before, err = r.tgt.rss(ctx); err != nil {
		return err
	}
	r.progress("RSS run: %s events in batches of %d from %d clients (server RSS now %s)", thousands(float64(cfg.RSSEvents)), cfg.BatchSize, cfg.Clients, mib(r.rss.before))
	w := &generated{g: r.gen, tag: "rss", n: cfg.RSSEvents, size: cfg.BatchSize}
	every := max(w.len()/10, 1)
	res, err := r.tgt.cl.appendAll(ctx, "RSS run", ctBatch, w, cfg.Clients, func(done int) {
		if done%every == 0 {
			r.progress("  RSS run: %s events appended", thousands(float64(done*cfg.BatchSize)))
		}
	})
	if err != nil {
		return err
	}
	r.rss.events, r.rss.rate = res.events, res.rate()
	if err := r.settle(ctx, "the RSS reading"); err != nil {
		return err
	}
	if r.rss.after, err = r.tgt.rss(ctx); err != nil {
		return err
	}
	if r.tgt.inProcess() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.rss.heapInuse = ms.HeapInuse
		if cfg.HeapProfile != "" {
			if err := writeHeapProfile(cfg.HeapProfile); err != nil {
				return err
			}
			r.progress("heap profile written to %s", cfg.HeapProfile)
		}
	}
	r.progress("RSS run: %s events/s; server RSS %s", thousands(r.rss.rate), mib(r.rss.after))
	return nil
}

// reportPhases writes the table and the ratios.
func (r *run) reportPhases() {
	cfg := &r.cfg
	w := r.out
	heading(w, "ingest", r.start)
	describeServer(w, cfg.ServerURL, cfg.ServerCommand)
	fmt.Fprintf(w, "ceiling: embedded JetStream in this process (file storage, sync_interval 1s, in-process connection), nats.go jetstream PublishAsync from 1 goroutine, at most %d pending\n", cfg.CeilingMaxPending)
	fmt.Fprintf(w, "events:  %d B CloudEvents JSON (source %s, type %s, unique ids), namespace %s, over %s streams chosen at random (seed %#x)\n",
		cfg.PayloadBytes, benchSource, benchType, cfg.Namespace, thousands(float64(cfg.Streams)), streamSeed)
	schemaPhases := !cfg.NoSchemaPhases
	if schemaPhases {
		fmt.Fprintf(w, "schema:  (s0) and (s) append (b)'s workload of orders (type %s, %d B, padded in their note) to namespace %s (schema_mode off) and to %s (its schema enforced: 13 properties, enums, uuid/email/date-time formats, a pattern, bounds, additionalProperties false)\n",
			orderType, cfg.PayloadBytes, cfg.Namespace+noSchemaSuffix, cfg.Namespace+schemaSuffix)
	}
	fmt.Fprintf(w, "machine: load average %s at the start, %s at the end\n", r.load, loadavg())
	sequence := "a, b, b', c, reads"
	if schemaPhases {
		sequence = "a, b, s0 and s (alternating which goes first), b', c, reads"
	}
	fmt.Fprintf(w, "phases:  %d repetitions of %s (interleaved); the server settles (idle CPU, at least %s) before each phase\n\n", len(r.reps), sequence, cfg.Settle)

	t := &table{w: w, n: len(r.reps), label: 50}
	t.header("events/s")
	row := func(name string, f func(repetition) float64, format func(float64) string) {
		t.row(name, column(r.reps, f), format)
	}
	n := thousands(float64(cfg.Events))
	row(fmt.Sprintf("(a)  ceiling: JetStream PublishAsync, %s", n), func(p repetition) float64 { return p.ceiling.rate() }, thousands)
	row(fmt.Sprintf("(b)  HTTP batches of %d, %d clients, %s streams", cfg.BatchSize, cfg.Clients, thousands(float64(cfg.Streams))), func(p repetition) float64 { return p.batch.rate() }, thousands)
	if schemaPhases {
		row("(s0) as (b), orders, no validation", func(p repetition) float64 { return p.noSchema.rate() }, thousands)
		row("(s)  as (b), orders, schema enforced", func(p repetition) float64 { return p.schema.rate() }, thousands)
	}
	row(fmt.Sprintf("(b') HTTP batches of %d, %d clients, 1 stream", cfg.BatchSize, cfg.Clients), func(p repetition) float64 { return p.oneStream.rate() }, thousands)
	row(fmt.Sprintf("(c)  HTTP single events, %d clients", cfg.SingleClients), func(p repetition) float64 { return p.single.rate() }, thousands)
	row("(c)  latency p50, ms", func(p repetition) float64 { return p.singleP50.Seconds() * 1000 }, fixed2)
	row("(c)  latency p99, ms", func(p repetition) float64 { return p.singleP99.Seconds() * 1000 }, fixed2)
	cpuRow := func(name string, f func(repetition) appendResult) {
		row(name, func(p repetition) float64 { return f(p).cpuPerEvent() }, fixed1)
	}
	who := "bench process"
	switch {
	case cfg.ServerURL != "":
		who = "bench client only"
	case len(cfg.ServerCommand) > 0:
		who = "bench + server"
	}
	cpuRow("(a)  CPU per event, µs ("+who+")", func(p repetition) appendResult { return p.ceiling })
	cpuRow("(b)  CPU per event, µs", func(p repetition) appendResult { return p.batch })
	if schemaPhases {
		cpuRow("(s0) CPU per event, µs", func(p repetition) appendResult { return p.noSchema })
		cpuRow("(s)  CPU per event, µs", func(p repetition) appendResult { return p.schema })
	}
	cpuRow("(b') CPU per event, µs", func(p repetition) appendResult { return p.oneStream })
	cpuRow("(c)  CPU per event, µs", func(p repetition) appendResult { return p.single })
	row(fmt.Sprintf("read global log, pages of %d, 1 client", cfg.ReadPageSize), func(p repetition) float64 { return p.readLog.rate() }, thousands)
	row(fmt.Sprintf("read one stream, pages of %d, 1 client", cfg.ReadPageSize), func(p repetition) float64 { return p.readStream.rate() }, thousands)
	t.noise(cfg.ServerURL != "", column(r.reps, func(p repetition) float64 { return p.others.share() }))

	ratio := func(name string, f func(repetition) float64) {
		t.ratio(name, column(r.reps, func(p repetition) float64 { return f(p) / p.ceiling.rate() }))
	}
	ratio("b/a", func(p repetition) float64 { return p.batch.rate() })
	ratio("b'/a", func(p repetition) float64 { return p.oneStream.rate() })
	ratio("c/a", func(p repetition) float64 { return p.single.rate() })
	// CPU per event depends less on what else runs on the machine than
	// events/s does: a second view of the same comparison.
	costs := make([]float64, len(r.reps))
	for i, rep := range r.reps {
		costs[i] = rep.batch.cpuPerEvent() / rep.ceiling.cpuPerEvent()
	}
	fmt.Fprintf(w, "CPU per event of (b) over (a)'s (median of paired): %s\n", fixed2(median(costs)))
	if schemaPhases {
		// What validation costs: (s) over (s0), the same events with and
		// without it, paired.
		t.ratio("s/s0", column(r.reps, func(p repetition) float64 { return p.schema.rate() / p.noSchema.rate() }))
		ratio("s/a", func(p repetition) float64 { return p.schema.rate() })
		ratio("s0/a", func(p repetition) float64 { return p.noSchema.rate() })
		for i, rep := range r.reps {
			costs[i] = rep.schema.cpuPerEvent() / rep.noSchema.cpuPerEvent()
		}
		fmt.Fprintf(w, "CPU per event of (s) over (s0)'s (median of paired): %s\n", fixed2(median(costs)))
	}
}

// reportRSS writes the RSS run's figure.
func (r *run) reportRSS() {
	cfg, w, rs := &r.cfg, r.out, &r.rss
	fmt.Fprintln(w)
	switch {
	case rs.fresh && r.tgt.child != nil:
		fmt.Fprintf(w, "RSS after %s events: %s — VmRSS of the server's own process (a fresh one); %s before the run; appended at %s events/s\n",
			thousands(float64(rs.events)), mib(rs.after), mib(rs.before), thousands(rs.rate))
	case rs.fresh:
		fmt.Fprintf(w, "RSS after %s events: %s — VmRSS of this process, which holds a fresh in-process server AND the bench client (nothing subtracted); %s before the run; Go heap in use %s; appended at %s events/s\n",
			thousands(float64(rs.events)), mib(rs.after), mib(rs.before), mib(rs.heapInuse), thousands(rs.rate))
	default:
		fmt.Fprintf(w, "RSS after %s more events: %s — process_resident_memory_bytes of the server at %s; %s before the run; appended at %s events/s\n",
			thousands(float64(rs.events)), mib(rs.after), cfg.ServerURL, mib(rs.before), thousands(rs.rate))
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
