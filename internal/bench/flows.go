package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The flows the bench applies and the events that trigger them.
const (
	latencyFlow = "bench-latency"
	latencyType = "bench.flow"
	// A throughput phase's events are all of type bench.t0, which flow
	// bench-t0 matches; the other flows (bench-t1...) match nothing sent.
	matchedIndex = 0
	doneType     = "bench.done"
	// runsStall fails a throughput phase whose runs stop completing.
	runsStall = 30 * time.Second
)

const latencyFlowYAML = `name: ` + latencyFlow + `
on: {type: ` + latencyType + `}
steps:
  - id: call
    http:
      url: %s/sink
      body: '{"n": event.data.n, "sent": event.data.sent}'
    retry: {attempts: 3, initial: 10ms, max: 100ms}
`

const emitFlowYAML = `name: bench-t%[1]d
on: {type: bench.t%[1]d}
steps:
  - id: done
    emit: {type: ` + doneType + `, data: '{"n": event.data.n}'}
`

func emitFlowName(i int) string { return "bench-t" + strconv.Itoa(i) }
func emitFlowType(i int) string { return "bench.t" + strconv.Itoa(i) }

// flowsRep holds one repetition's figures.
type flowsRep struct {
	ceiling   appendResult
	latency   latencyResult
	one, many throughputResult
	// applied is the time applying the many flows took.
	applied time.Duration
	others  others
}

type latencyResult struct {
	events        int
	rate          float64 // achieved, events/s
	p50, p99, max time.Duration
	// sentP50, sentP99 time from the append's request instead of its answer.
	sentP50, sentP99 time.Duration
	lost             int
	duplicates       int // sink calls beyond one per event
}

type throughputResult struct {
	ingest appendResult
	runs   int
	// elapsed runs from the first append to the last run's finished_at;
	// lag from the last append's answer to it.
	elapsed, lag time.Duration
}

func (t throughputResult) runRate() float64 { return float64(t.runs) / t.elapsed.Seconds() }

// RunFlows runs the flows benchmark described on FlowsConfig and writes its
// report to out: the ceiling (the ingest bench's phase a), the trigger
// latency of a flow calling an HTTP sink, and ingest and run throughput of
// a flow emitting an event with 1 and with cfg.Flows flows applied. Every
// request must succeed and every event must start its run: the first
// failure, or an event whose run never comes, stops the run with an error.
func RunFlows(ctx context.Context, cfg FlowsConfig, out io.Writer) error {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	r, err := newRun(cfg.ingest(), out, "bench-flows")
	if err != nil {
		return err
	}
	defer os.RemoveAll(r.dir)
	f := &flowsRun{run: r, fc: cfg}
	return f.runAll(ctx)
}

// flowsRun is one run of the flows bench, on the ingest bench's machinery.
type flowsRun struct {
	*run
	fc   FlowsConfig
	sink *sink
	reps []flowsRep
	// ceilingRate is the ceiling of the repetition in progress.
	ceilingRate float64
}

func (f *flowsRun) runAll(ctx context.Context) (err error) {
	stop, err := f.startServers(ctx, f.fc.Clients)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	if f.sink, err = startSink(); err != nil {
		return err
	}
	defer f.sink.stop()
	for i := range f.fc.Repetitions {
		rep, err := f.repetition(ctx, i+1)
		if err != nil {
			return fmt.Errorf("bench flows: repetition %d: %w", i+1, err)
		}
		f.reps = append(f.reps, rep)
	}
	f.report()
	return nil
}

// client returns a client of the namespace of one phase of repetition n.
func (f *flowsRun) client(phase string, n int) *client {
	return newClient(f.tgt.url, fmt.Sprintf("%s-%s-%d", f.fc.Namespace, phase, n), f.fc.Clients)
}

func (f *flowsRun) repetition(ctx context.Context, n int) (flowsRep, error) {
	cfg := &f.fc
	var rep flowsRep
	var err error
	f.progress("repetition %d of %d", n, cfg.Repetitions)
	if rep.ceiling, err = f.measureCeiling(ctx, fmt.Sprintf("fa%d", n), cfg.CeilingEvents, &rep.others); err != nil {
		return rep, err
	}
	f.ceilingRate = rep.ceiling.rate()

	cl := f.client("lat", n)
	defer cl.close()
	if err := f.applyFlows(ctx, cl, 1, func(int) (string, string) { return latencyFlow, fmt.Sprintf(latencyFlowYAML, f.sink.url) }); err != nil {
		return rep, err
	}
	if err := f.settle(ctx, "the latency phase"); err != nil {
		return rep, err
	}
	if rep.latency, err = f.measureLatency(ctx, cl, n, &rep.others); err != nil {
		return rep, err
	}

	cl = f.client("one", n)
	defer cl.close()
	if err := f.applyFlows(ctx, cl, 1, func(int) (string, string) { return emitFlow(matchedIndex) }); err != nil {
		return rep, err
	}
	if rep.one, err = f.measureThroughput(ctx, cl, fmt.Sprintf("f1-%d", n), "1 flow", &rep.others); err != nil {
		return rep, err
	}

	cl = f.client("many", n)
	defer cl.close()
	f.progress("  applying %s flows from %d clients", thousands(float64(cfg.Flows)), cfg.Clients)
	start := time.Now()
	if err := f.applyFlows(ctx, cl, cfg.Flows, emitFlow); err != nil {
		return rep, err
	}
	rep.applied = time.Since(start)
	f.progress("  applied %s flows in %s (%s flows/s)", thousands(float64(cfg.Flows)), rep.applied.Round(time.Millisecond), thousands(float64(cfg.Flows)/rep.applied.Seconds()))
	if rep.many, err = f.measureThroughput(ctx, cl, fmt.Sprintf("fm-%d", n), thousands(float64(cfg.Flows))+" flows", &rep.others); err != nil {
		return rep, err
	}
	return rep, nil
}

func emitFlow(i int) (string, string) { return emitFlowName(i), fmt.Sprintf(emitFlowYAML, i) }

// measureLatency sends cfg.Rate single events a second for cfg.Duration
// to the latency flow and times, for each, the answer of its append to the
// sink's receipt of its call.
func (f *flowsRun) measureLatency(ctx context.Context, cl *client, rep int, o *others) (latencyResult, error) {
	cfg := &f.fc
	n := max(int(float64(cfg.Rate)*cfg.Duration.Seconds()), 1)
	res := latencyResult{events: n}
	subjects := make([]string, n)
	pick := f.gen.picker()
	for i := range subjects {
		subjects[i] = pick.next()
	}
	w := &pacedEvents{g: f.gen, tag: fmt.Sprintf("fl%d", rep), subjects: subjects, built: make([]time.Time, n),
		interval: time.Duration(float64(time.Second) / float64(cfg.Rate))}
	calls := f.sink.expect(n)
	f.progress("  latency: %d events/s for %s to flow %s (an HTTP step to the sink)", cfg.Rate, cfg.Duration, latencyFlow)
	var sent appendResult
	_, err := o.timed(f.tgt.child, func() (err error) {
		w.start = time.Now()
		sent, err = cl.appendAll(ctx, "latency", ctSingle, w, cfg.Clients, nil)
		return err
	})
	if err != nil {
		return res, err
	}
	// The request is written right after its body is built: built + the
	// request's latency is when its answer was read, to a few hundred ns.
	answered := make([]time.Time, n)
	var last time.Time
	for i := range n {
		answered[i] = w.built[i].Add(sent.latency[i])
		if answered[i].After(last) {
			last = answered[i]
		}
	}
	res.rate = float64(n) / last.Sub(w.start).Seconds()
	select {
	case <-calls.done:
	case <-time.After(time.Until(last.Add(cfg.LostAfter))):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	lat := make([]time.Duration, 0, n)
	fromSent := make([]time.Duration, 0, n)
	var lost []int
	for i := range n {
		got := calls.received[i].Load()
		if got == 0 {
			lost = append(lost, i)
			continue
		}
		d := time.Unix(0, got).Sub(answered[i])
		lat = append(lat, d)
		fromSent = append(fromSent, time.Unix(0, got).Sub(w.built[i]))
		res.max = max(res.max, d)
	}
	res.p50, res.p99 = percentiles(lat)
	res.sentP50, res.sentP99 = percentiles(fromSent)
	res.lost, res.duplicates = len(lost), int(calls.duplicates.Load())
	f.progress("  latency: %s events/s sent; append answered → sink called: p50 %s, p99 %s, max %s; %d lost, %d duplicate calls",
		thousands(res.rate), ms(res.p50), ms(res.p99), ms(res.max), res.lost, res.duplicates)
	if len(lost) > 0 {
		return res, fmt.Errorf("latency: %d of %d events had no sink call %s after the last append (events n = %s): their runs are lost or stuck; see GET /v1/runs?flow=%s in namespace %s",
			len(lost), n, cfg.LostAfter, firstInts(lost, 10), latencyFlow, cl.ns)
	}
	return res, nil
}

// pacedEvents are the latency phase's single events, each built when it is
// due (start + i*interval, so that a slow answer delays no other event,
// with several clients) with its send time in data.
type pacedEvents struct {
	g        *generator
	tag      string
	subjects []string
	start    time.Time
	interval time.Duration
	built    []time.Time // when request i's body was built
}

var _ requests = (*pacedEvents)(nil)

func (w *pacedEvents) len() int    { return len(w.subjects) }
func (w *pacedEvents) events() int { return len(w.subjects) }
func (w *pacedEvents) body(i int, scratch *[]byte) ([]byte, int) {
	if d := time.Until(w.start.Add(time.Duration(i) * w.interval)); d > 0 {
		time.Sleep(d)
	}
	now := time.Now()
	*scratch = w.g.appendTyped((*scratch)[:0], latencyType, w.tag, i, w.subjects[i], now.UnixNano(), w.g.size)
	w.built[i] = now
	return *scratch, 1
}

func firstInts(vs []int, k int) string {
	s := make([]string, 0, k+1)
	for _, v := range vs[:min(k, len(vs))] {
		s = append(s, strconv.Itoa(v))
	}
	if len(vs) > k {
		s = append(s, "…")
	}
	return strings.Join(s, ", ")
}

// measureThroughput appends cfg.Events events of the matched flow's type
// in batches, as fast as the server takes them, and waits until every run
// they start has completed.
func (f *flowsRun) measureThroughput(ctx context.Context, cl *client, tag, what string, o *others) (throughputResult, error) {
	cfg := &f.fc
	var res throughputResult
	w := f.gen.typedBatches(emitFlowType(matchedIndex), tag, cfg.Events, cfg.BatchSize, f.gen.picker().next)
	if err := f.settle(ctx, what); err != nil {
		return res, err
	}
	f.progress("  %s: %s events in batches of %d from %d clients", what, thousands(float64(cfg.Events)), cfg.BatchSize, cfg.Clients)
	var begin, answered time.Time
	cpu, err := o.timed(f.tgt.child, func() (err error) {
		begin = time.Now()
		if res.ingest, err = cl.appendAll(ctx, what, ctBatch, w, cfg.Clients, nil); err != nil {
			return err
		}
		answered = time.Now()
		return f.waitRuns(ctx, cl, emitFlowName(matchedIndex), cfg.Events)
	})
	if err != nil {
		return res, err
	}
	res.ingest.cpu = cpu
	var last time.Time
	if res.runs, last, err = f.completedRuns(ctx, cl, cfg.Events); err != nil {
		return res, err
	}
	res.elapsed, res.lag = last.Sub(begin), last.Sub(answered)
	f.progress("  %s: ingest %s events/s (%.2f of (a)); %s runs completed %s after the first append (%s runs/s, the last %s after the last append)",
		what, thousands(res.ingest.rate()), res.ingest.rate()/f.ceilingRate, thousands(float64(res.runs)), res.elapsed.Round(time.Millisecond),
		thousands(res.runRate()), res.lag.Round(time.Millisecond))
	return res, nil
}

// waitRuns polls the server's metrics until want runs of flow have
// succeeded, failing when they stop progressing.
func (f *flowsRun) waitRuns(ctx context.Context, cl *client, flowName string, want int) error {
	labels := []string{`namespace="` + cl.ns + `"`, `flow="` + flowName + `"`}
	var done float64
	moved := time.Now()
	for {
		got, _, err := cl.metricSum(ctx, "ensue_flow_runs_succeeded_total", labels...)
		if err != nil {
			return err
		}
		if got >= float64(want) {
			return nil
		}
		if got > done {
			done, moved = got, time.Now()
		}
		if time.Since(moved) > runsStall {
			dead, _, _ := cl.metricSum(ctx, "ensue_flow_runs_dead_lettered_total", labels...)
			return fmt.Errorf("runs of flow %s in namespace %s: %.0f of %d succeeded, none more in %s (%.0f dead-lettered)", flowName, cl.ns, got, want, runsStall, dead)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// completedRuns lists the namespace's completed runs until there are want
// (the engine records a run's completion in its state shortly after the
// metric counts it) and returns them with the latest finished_at. Runs
// other than completed ones, or more of them, fail the phase.
func (f *flowsRun) completedRuns(ctx context.Context, cl *client, want int) (int, time.Time, error) {
	deadline := time.Now().Add(runsStall)
	for {
		n, last, err := cl.runs(ctx, "/v1/runs?status=completed")
		if err != nil || n > want {
			return n, last, errors.Join(err, fmt.Errorf("namespace %s has %d completed runs, more than the %d events sent", cl.ns, n, want))
		}
		if n == want {
			all, _, err := cl.runs(ctx, "/v1/runs?")
			if err == nil && all != want {
				err = fmt.Errorf("namespace %s has %d runs for %d events sent", cl.ns, all, want)
			}
			return n, last, err
		}
		if time.Now().After(deadline) {
			return n, last, fmt.Errorf("namespace %s: %d of %d runs completed by GET /v1/runs %s after the metric counted them all", cl.ns, n, want, runsStall)
		}
		select {
		case <-ctx.Done():
			return n, last, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// applyFlows puts flows 0..n-1 (name and YAML from def) from cfg.Clients
// concurrent clients, reporting progress every tenth.
func (f *flowsRun) applyFlows(ctx context.Context, cl *client, n int, def func(i int) (string, string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := &failures{cancel: cancel}
	var next, done atomic.Int64
	every := max(n/10, 1000)
	start := time.Now()
	var wg sync.WaitGroup
	for range min(f.fc.Clients, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				name, body := def(i)
				if err := cl.putYAML(ctx, "/v1/flows/"+name, body); err != nil {
					if ctx.Err() == nil {
						fail.add(err)
					}
					return
				}
				if d := int(done.Add(1)); d%every == 0 && d < n {
					f.progress("    %s of %s flows applied (%s flows/s)", thousands(float64(d)), thousands(float64(n)), thousands(float64(d)/time.Since(start).Seconds()))
				}
			}
		})
	}
	wg.Wait()
	if err := fail.err("apply flows"); err != nil {
		return err
	}
	return ctx.Err()
}

// putYAML applies one definition (a flow's, a projection's) with PUT to
// path; created and unchanged both do.
func (c *client) putYAML(ctx context.Context, path, yaml string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+path, strings.NewReader(yaml))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/yaml")
	req.Header["Ensue-Namespace"] = []string{c.ns}
	resp, err := c.http.Do(req)
	if err != nil {
		return &requestError{what: "PUT " + path, err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return &requestError{what: "PUT " + path, status: resp.StatusCode, body: clip(string(body), 300)}
	}
	return nil
}

// runs pages through a runs listing (path with its query, ending in ? or
// &) and returns how many runs it holds and their latest finished_at.
func (c *client) runs(ctx context.Context, path string) (int, time.Time, error) {
	var buf bytes.Buffer
	var n int
	var last time.Time
	for cursor := ""; ; {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"&limit=1000&cursor="+cursor, nil)
		if err != nil {
			return n, last, err
		}
		if err := c.do(req, &buf); err != nil {
			return n, last, err
		}
		var page struct {
			Runs []struct {
				FinishedAt time.Time `json:"finished_at"`
			} `json:"runs"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
			return n, last, fmt.Errorf("GET %s: %w", path, err)
		}
		for _, r := range page.Runs {
			if r.FinishedAt.After(last) {
				last = r.FinishedAt
			}
		}
		n += len(page.Runs)
		if cursor = page.Next; cursor == "" {
			return n, last, nil
		}
	}
}

// sink is the HTTP server the latency flow calls, in this process on
// 127.0.0.1: it notes when the call for each event first arrives.
type sink struct {
	url   string
	srv   *http.Server
	calls atomic.Pointer[sinkCalls]
}

// sinkCalls are the calls of one latency phase.
type sinkCalls struct {
	received   []atomic.Int64 // Unix ns of the first call for event n, 0 before
	want       int
	got        atomic.Int64
	duplicates atomic.Int64
	stray      atomic.Int64 // calls naming no event of this phase
	done       chan struct{}
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s := &sink{url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// expect starts a phase of n events.
func (s *sink) expect(n int) *sinkCalls {
	c := &sinkCalls{received: make([]atomic.Int64, n), want: n, done: make(chan struct{})}
	s.calls.Store(c)
	return c
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UnixNano()
	var body struct {
		N *float64 `json:"n"`
	}
	b, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	if err != nil || body.N == nil {
		http.Error(w, `the bench's sink wants {"n": <event number>}`, http.StatusBadRequest)
		return
	}
	c := s.calls.Load()
	switch i := int(*body.N); {
	case c == nil || i < 0 || i >= len(c.received):
		c.stray.Add(1)
	case c.received[i].CompareAndSwap(0, now):
		if int(c.got.Add(1)) == c.want {
			close(c.done)
		}
	default:
		c.duplicates.Add(1)
	}
	w.WriteHeader(http.StatusOK)
}

// report writes the table and the ratios.
func (f *flowsRun) report() {
	cfg := &f.fc
	w := f.out
	heading(w, "flows", f.start)
	describeServer(w, cfg.ServerURL, cfg.ServerCommand)
	fmt.Fprintf(w, "ceiling: the ingest bench's (a): embedded JetStream in this process, PublishAsync from 1 goroutine, at most %d pending\n", cfg.CeilingMaxPending)
	fmt.Fprintf(w, "events:  %d B CloudEvents JSON, unique ids, over %s streams; namespaces %s-{lat,one,many}-<repetition>\n",
		cfg.PayloadBytes, thousands(float64(f.cfg.Streams)), cfg.Namespace)
	fmt.Fprintf(w, "latency: flow %s on type %s, one HTTP step POSTing to a sink in this process on 127.0.0.1 (retry 3 attempts, 10ms..100ms);\n"+
		"         single events at %d/s for %s from %d connections; latency = append answered (200) → sink received the call\n",
		latencyFlow, latencyType, cfg.Rate, cfg.Duration, cfg.Clients)
	fmt.Fprintf(w, "runs:    flow bench-t%d on type bench.t%d, one emit step (type %s), concurrency 100 (the default); %s events in batches of %d from %d clients;\n"+
		"         runs/s = runs / (first append → last run's finished_at); the many-flow phase adds flows bench-t1.. on types bench.t1.., which match nothing sent\n",
		matchedIndex, matchedIndex, doneType, thousands(float64(cfg.Events)), cfg.BatchSize, cfg.Clients)
	fmt.Fprintf(w, "machine: load average %s at the start, %s at the end\n", f.load, loadavg())
	fmt.Fprintf(w, "phases:  %d repetition(s) of a, latency, 1 flow, %s flows; the server settles (idle CPU, at least %s) before each\n\n", len(f.reps), thousands(float64(cfg.Flows)), cfg.Settle)

	t := &table{w: w, n: len(f.reps), label: 56}
	t.header("")
	many := thousands(float64(cfg.Flows)) + " flows"
	row := func(name string, v func(flowsRep) float64, format func(float64) string) {
		t.row(name, column(f.reps, v), format)
	}
	row(fmt.Sprintf("(a)  ceiling, events/s (%s events)", thousands(float64(cfg.CeilingEvents))), func(r flowsRep) float64 { return r.ceiling.rate() }, thousands)
	row("latency: events/s sent", func(r flowsRep) float64 { return r.latency.rate }, thousands)
	row("latency: append answered → sink call, p50 ms", func(r flowsRep) float64 { return msf(r.latency.p50) }, fixed2)
	row("latency: append answered → sink call, p99 ms", func(r flowsRep) float64 { return msf(r.latency.p99) }, fixed2)
	row("latency: append answered → sink call, max ms", func(r flowsRep) float64 { return msf(r.latency.max) }, fixed2)
	row("latency: append sent → sink call, p50 ms", func(r flowsRep) float64 { return msf(r.latency.sentP50) }, fixed2)
	row("latency: append sent → sink call, p99 ms", func(r flowsRep) float64 { return msf(r.latency.sentP99) }, fixed2)
	row("latency: lost events", func(r flowsRep) float64 { return float64(r.latency.lost) }, thousands)
	row("latency: duplicate sink calls", func(r flowsRep) float64 { return float64(r.latency.duplicates) }, thousands)
	for _, p := range []struct {
		name string
		get  func(flowsRep) throughputResult
	}{{"1 flow", func(r flowsRep) throughputResult { return r.one }}, {many, func(r flowsRep) throughputResult { return r.many }}} {
		row(p.name+": ingest events/s", func(r flowsRep) float64 { return p.get(r).ingest.rate() }, thousands)
		row(p.name+": runs completed/s", func(r flowsRep) float64 { return p.get(r).runRate() }, thousands)
		row(p.name+": last run after the last append, s", func(r flowsRep) float64 { return p.get(r).lag.Seconds() }, fixed2)
		row(p.name+": CPU per event (ingest + run), µs", func(r flowsRep) float64 { return p.get(r).ingest.cpuPerEvent() }, fixed1)
	}
	row(fmt.Sprintf("applying %s, flows/s (%d clients)", many, cfg.Clients), func(r flowsRep) float64 { return float64(cfg.Flows) / r.applied.Seconds() }, thousands)
	t.noise(cfg.ServerURL != "", column(f.reps, func(r flowsRep) float64 { return r.others.share() }))
	ratio := func(name string, v func(flowsRep) float64) { t.ratio(name, column(f.reps, v)) }
	ceil := func(r flowsRep) float64 { return r.ceiling.rate() }
	ratio("ingest with 1 flow / a", func(r flowsRep) float64 { return r.one.ingest.rate() / ceil(r) })
	ratio("runs/s with 1 flow / a", func(r flowsRep) float64 { return r.one.runRate() / ceil(r) })
	ratio(fmt.Sprintf("ingest with %s / a", many), func(r flowsRep) float64 { return r.many.ingest.rate() / ceil(r) })
	ratio(fmt.Sprintf("runs/s with %s / a", many), func(r flowsRep) float64 { return r.many.runRate() / ceil(r) })
	ratio(fmt.Sprintf("ingest with %s / with 1 flow", many), func(r flowsRep) float64 { return r.many.ingest.rate() / r.one.ingest.rate() })
	ratio(fmt.Sprintf("runs/s with %s / with 1 flow", many), func(r flowsRep) float64 { return r.many.runRate() / r.one.runRate() })
}

func msf(d time.Duration) float64 { return d.Seconds() * 1000 }
