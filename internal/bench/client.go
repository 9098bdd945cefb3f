package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	ctBatch  = "application/cloudevents-batch+json"
	ctSingle = "application/cloudevents+json"
)

// client talks to one Ensue server over HTTP.
type client struct {
	base string
	ns   string
	http *http.Client
	// ownProcs, when set, is the GOMAXPROCS of this process while it sends
	// appends to a server in another process: a load generator needs one
	// CPU, and a second one only lets its scheduler contend with the
	// server's for the machine (as wrk's one thread per core does not).
	ownProcs int
}

func newClient(base, ns string, conns int) *client {
	tr := &http.Transport{
		Proxy:               nil, // a benchmark never goes through a proxy
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &client{base: base, ns: ns, http: &http.Client{Transport: tr}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// in returns a client of the same server in namespace ns, sharing c's
// connections.
func (c *client) in(ns string) *client {
	d := *c
	d.ns = ns
	return &d
}

// send sends one request with body (of content type ct) and reads the
// whole answer into buf; it returns the answer's status.
func (c *client) send(ctx context.Context, method, path, ct string, body []byte, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ct)
	req.Header["Ensue-Namespace"] = []string{c.ns}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &requestError{what: method + " " + path, err: err}
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, &requestError{what: method + " " + path, err: fmt.Errorf("read the answer: %w", err)}
	}
	return resp.StatusCode, nil
}

// put sends body (JSON) to path with PUT; created and unchanged (201, 200)
// both do.
func (c *client) put(ctx context.Context, path string, body []byte) error {
	var buf bytes.Buffer
	status, err := c.send(ctx, http.MethodPut, path, "application/json", body, &buf)
	if err != nil {
		return err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return &requestError{what: "PUT " + path, status: status, body: clip(buf.String(), 300)}
	}
	return nil
}

// requestError is a request that did not get the answer it needed.
type requestError struct {
	what   string
	status int
	body   string
	err    error
}

func (e *requestError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %v", e.what, e.err)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.what, e.status, e.body)
}

func (e *requestError) Unwrap() error { return e.err }

// do sends one request and reads the whole answer into buf, failing on
// anything but 200.
func (c *client) do(req *http.Request, buf *bytes.Buffer) error {
	req.Header["Ensue-Namespace"] = []string{c.ns}
	what := req.Method + " " + req.URL.Path
	resp, err := c.http.Do(req)
	if err != nil {
		return &requestError{what: what, err: err}
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return &requestError{what: what, err: fmt.Errorf("read the answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return &requestError{what: what, status: resp.StatusCode, body: clip(buf.String(), 300)}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var (
	notDuplicate = []byte(`"duplicate":false`)
	positionKey  = []byte(`"position":`)
	recordStart  = []byte(`{"position":`)
	nextKey      = []byte(`"next":`)
)

// appendResult is the outcome of an append phase.
type appendResult struct {
	events   int
	elapsed  time.Duration
	latency  []time.Duration // per request
	firstPos uint64          // the lowest position answered
	lastPos  uint64          // the highest position answered
	// cpu is the CPU time the bench used (with its child server), -1 if unknown.
	cpu time.Duration
}

func (r appendResult) rate() float64 { return float64(r.events) / r.elapsed.Seconds() }

// cpuPerEvent in µs, NaN when unknown.
func (r appendResult) cpuPerEvent() float64 {
	if r.cpu < 0 || r.events == 0 {
		return math.NaN()
	}
	return float64(r.cpu.Microseconds()) / float64(r.events)
}

// failures collects the failed requests of a phase: the first one stops it.
type failures struct {
	n      atomic.Int64
	once   sync.Once
	first  error
	cancel context.CancelFunc
}

func (f *failures) add(err error) {
	f.n.Add(1)
	f.once.Do(func() {
		f.first = err
		f.cancel()
	})
}

func (f *failures) err(phase string) error {
	if n := f.n.Load(); n > 0 {
		return fmt.Errorf("%s: %d request(s) failed; the first: %w", phase, n, f.first)
	}
	return nil
}

// requests is what an append phase sends: request i's body and the
// number of events in it. body is called by one client at a time per
// scratch buffer, which is that client's own.
type requests interface {
	len() int
	events() int
	body(i int, scratch *[]byte) ([]byte, int)
}

// appendAll posts every request of reqs with the given content type from
// clients concurrent clients, and checks that every event of every answer
// was stored (not a duplicate, not a problem). Requests are taken in order
// by whichever client is free. progress, when not nil, is called after
// each request with the number of requests done.
func (c *client) appendAll(ctx context.Context, phase, contentType string, reqs requests, clients int, progress func(done int)) (appendResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.ownProcs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.ownProcs))
	}
	fail := &failures{cancel: cancel}
	n := reqs.len()
	res := appendResult{events: reqs.events(), latency: make([]time.Duration, n)}
	var next, done atomic.Int64
	var firstPos, lastPos atomic.Uint64
	firstPos.Store(math.MaxUint64)
	// One keep-alive connection per client, opened before the clock starts.
	conns := make([]*rawConn, clients)
	for k := range conns {
		rc, err := dialRaw(ctx, c.base, c.ns)
		if err != nil {
			for _, rc := range conns[:k] {
				rc.close()
			}
			return res, fmt.Errorf("%s: connect: %w", phase, err)
		}
		conns[k] = rc
	}
	defer func() {
		for _, rc := range conns {
			rc.close()
		}
	}()
	var wg sync.WaitGroup
	start := time.Now()
	for _, rc := range conns {
		wg.Go(func() {
			var buf bytes.Buffer
			var scratch []byte
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				body, count := reqs.body(i, &scratch)
				t0 := time.Now()
				status, err := rc.post(ctx, "/v1/events", contentType, body, &buf)
				res.latency[i] = time.Since(t0)
				switch {
				case err != nil:
					err = &requestError{what: "POST /v1/events", err: err}
				case status != http.StatusOK:
					err = &requestError{what: "POST /v1/events", status: status, body: clip(buf.String(), 300)}
				default:
					err = checkAppended(buf.Bytes(), count)
				}
				if err != nil {
					if ctx.Err() == nil {
						fail.add(err)
					}
					return
				}
				storeMin(&firstPos, firstPosition(buf.Bytes()))
				storeMax(&lastPos, lastPosition(buf.Bytes()))
				if progress != nil {
					progress(int(done.Add(1)))
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.firstPos, res.lastPos = firstPos.Load(), lastPos.Load()
	if err := fail.err(phase); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", phase, err)
	}
	return res, nil
}

func storeMin(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n >= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

func storeMax(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// checkAppended checks that an append's answer reports n events stored
// and none a duplicate or a problem. Counting a marker is enough, and
// keeps the bench client cheap next to the server it measures.
func checkAppended(body []byte, n int) error {
	if got := bytes.Count(body, notDuplicate); got != n {
		return fmt.Errorf("POST /v1/events: %d of %d events stored (the others are duplicates or problems): %s", got, n, clip(string(body), 300))
	}
	return nil
}

// firstPosition reads the first "position" of an answer.
func firstPosition(body []byte) uint64 {
	i := bytes.Index(body, positionKey)
	if i < 0 {
		return math.MaxUint64
	}
	return leadingUint(body[i+len(positionKey):])
}

// lastPosition reads the last "position" of an answer, 0 if none.
func lastPosition(body []byte) uint64 {
	i := bytes.LastIndex(body, positionKey)
	if i < 0 {
		return 0
	}
	return leadingUint(body[i+len(positionKey):])
}

func leadingUint(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// readResult is the outcome of a read phase.
type readResult struct {
	events  int
	elapsed time.Duration
}

func (r readResult) rate() float64 { return float64(r.events) / r.elapsed.Seconds() }

// readLog pages through the namespace's log from after, one request at a
// time, until want events were read or the log ends.
func (c *client) readLog(ctx context.Context, after uint64, want, page int) (readResult, error) {
	var buf bytes.Buffer
	var res readResult
	start := time.Now()
	for res.events < want {
		u := c.base + "/v1/events?after=" + strconv.FormatUint(after, 10) + "&limit=" + strconv.Itoa(min(page, want-res.events))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return res, err
		}
		if err := c.do(req, &buf); err != nil {
			return res, fmt.Errorf("read the log: %w", err)
		}
		body := buf.Bytes()
		n := bytes.Count(body, recordStart)
		i := bytes.LastIndex(body, nextKey)
		if i < 0 {
			return res, fmt.Errorf("read the log: GET /v1/events answered without next: %s", clip(string(body), 300))
		}
		res.events += n
		after = leadingUint(body[i+len(nextKey):])
		if n == 0 {
			break
		}
	}
	res.elapsed = time.Since(start)
	return res, nil
}

// readStream pages through one stream from version 1 until want events
// were read or the stream ends.
func (c *client) readStream(ctx context.Context, stream string, want, page int) (readResult, error) {
	var buf bytes.Buffer
	var res readResult
	from := 1
	start := time.Now()
	for res.events < want {
		u := c.base + "/v1/streams/" + url.PathEscape(stream) + "?from=" + strconv.Itoa(from) + "&limit=" + strconv.Itoa(min(page, want-res.events))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return res, err
		}
		if err := c.do(req, &buf); err != nil {
			return res, fmt.Errorf("read stream %s: %w", stream, err)
		}
		n := bytes.Count(buf.Bytes(), recordStart)
		res.events += n
		from += n
		if n == 0 {
			break
		}
	}
	res.elapsed = time.Since(start)
	return res, nil
}

// metric reads one unlabelled sample of the server's /metrics.
func (c *client) metric(ctx context.Context, name string) (float64, error) {
	v, n, err := c.metricSum(ctx, name)
	if err == nil && n == 0 {
		err = fmt.Errorf("the server's /metrics has no %s", name)
	}
	return v, err
}

// metricSum is the sum of the samples of the server's /metrics named name
// whose labels include every one of labels (each `key="value"`), and how
// many there are (none for a counter not yet incremented).
func (c *client) metricSum(ctx context.Context, name string, labels ...string) (float64, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	var buf bytes.Buffer
	if err := c.do(req, &buf); err != nil {
		return 0, 0, err
	}
	var sum float64
	var n int
lines:
	for line := range bytes.Lines(buf.Bytes()) {
		rest, ok := bytes.CutPrefix(line, []byte(name))
		if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		set, value := []byte(nil), rest
		if rest[0] == '{' {
			if set, value, ok = bytes.Cut(rest, []byte("} ")); !ok {
				continue
			}
		}
		for _, l := range labels {
			if !bytes.Contains(set, []byte(l)) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(string(bytes.TrimSpace(value)), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("the server's /metrics: %s: %w", name, err)
		}
		sum += v
		n++
	}
	return sum, n, nil
}

// waitReady polls /readyz until it answers 200.
func (c *client) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if last = c.do(req, &buf); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server at %s is not ready after %s: %w", c.base, timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
