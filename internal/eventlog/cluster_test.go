package eventlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/eventlog/logtest"
)

// The cluster tests run a real three-node JetStream cluster on 127.0.0.1 as
// three nats-server processes, so that a node can be killed with SIGKILL the
// way a machine dies. The binary is built once per test run from the
// nats-server module this module already depends on, so it is exactly the
// server version of go.mod and needs no network.

var natsServerBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if natsServerBin.dir != "" {
		os.RemoveAll(natsServerBin.dir)
	}
	os.Exit(code)
}

// natsServerBinary builds nats-server once per test binary run.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	b := &natsServerBin
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "ensue-nats-server-")
		if b.err != nil {
			return
		}
		path := filepath.Join(b.dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", path, "github.com/nats-io/nats-server/v2")
		// Offline on purpose: everything the server needs is in go.sum and
		// in the module cache already, since this package imports it.
		cmd.Env = append(os.Environ(), "GOPROXY=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build nats-server: %v\n%s", err, out)
			return
		}
		b.path = path
	})
	require.NoError(t, b.err)
	return b.path
}

// testCluster is three nats-server processes forming one JetStream cluster.
type testCluster struct {
	t     *testing.T
	name  string
	nodes []*testNode
}

type testNode struct {
	name                              string
	dir                               string
	clientPort, clusterPort, httpPort int

	mu     sync.Mutex
	proc   *os.Process // nil while stopped
	exited chan struct{}
}

func (n *testNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort) }

// startCluster starts three nodes and waits until JetStream has a meta
// leader and every node reports itself healthy. The processes are killed,
// by PID, when the test ends. A node that exits while starting (its port
// was taken between being picked and being bound) makes it start a new
// cluster on other ports.
func startCluster(t *testing.T) *testCluster {
	t.Helper()
	bin := natsServerBinary(t)
	for attempt := 1; ; attempt++ {
		c, err := tryStartCluster(t, bin)
		if err == nil {
			return c
		}
		if attempt == 3 || !errors.Is(err, errNodeExited) {
			require.NoError(t, err)
		}
		t.Logf("starting the cluster, attempt %d: %v; trying again on other ports", attempt, err)
	}
}

var errNodeExited = errors.New("nats-server exited")

var clusterCounter atomic.Int64

func tryStartCluster(t *testing.T, bin string) (*testCluster, error) {
	ports := freePorts(t, 9)
	c := &testCluster{
		t: t,
		// Distinct per cluster, so that a route that reaches another
		// test's cluster is refused.
		name: fmt.Sprintf("ensue-test-%d-%d", os.Getpid(), clusterCounter.Add(1)),
	}
	base := t.TempDir()
	for i := range 3 {
		c.nodes = append(c.nodes, &testNode{
			name:        fmt.Sprintf("n%d", i+1),
			dir:         filepath.Join(base, fmt.Sprintf("n%d", i+1)),
			clientPort:  ports[3*i],
			clusterPort: ports[3*i+1],
			httpPort:    ports[3*i+2],
		})
	}
	for _, n := range c.nodes {
		require.NoError(t, os.MkdirAll(n.dir, 0o755))
		require.NoError(t, os.WriteFile(n.confPath(), []byte(c.config(n)), 0o644))
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.kill()
		}
		if t.Failed() {
			for _, n := range c.nodes {
				out, _ := os.ReadFile(n.logPath())
				if len(out) > 8000 {
					out = out[len(out)-8000:]
				}
				t.Logf("--- %s of %s: log tail ---\n%s", n.name, c.name, out)
			}
		}
	})
	for _, n := range c.nodes {
		n.start(t, bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.healthy(ctx, c.nodes...); err != nil {
		for _, n := range c.nodes {
			n.kill()
		}
		return nil, err
	}
	c.waitMetaLeader(ctx)
	t.Logf("cluster %s of 3 ready in %v", c.name, time.Since(start).Round(time.Millisecond))
	return c, nil
}

func (n *testNode) logPath() string { return filepath.Join(n.dir, "server.log") }

func (n *testNode) confPath() string { return filepath.Join(n.dir, "nats.conf") }

func (c *testCluster) config(n *testNode) string {
	var routes []string
	for _, o := range c.nodes {
		if o != n {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.clusterPort))
		}
	}
	return fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
max_payload: %d
log_file: %q
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 2GB
}
cluster {
  name: %s
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.name, n.clientPort, n.httpPort, 1<<20+eventlog.HeaderRoom,
		n.logPath(), filepath.Join(n.dir, "js"),
		c.name, n.clusterPort, strings.Join(routes, ", "))
}

// start runs the node's process (again, after a kill: same ports, same data).
func (n *testNode) start(t *testing.T, bin string) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	require.Nil(t, n.proc, "%s is already running", n.name)
	cmd := exec.Command(bin, "-c", n.confPath())
	cmd.SysProcAttr = serverProcAttr()
	require.NoError(t, cmd.Start(), "start %s", n.name)
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	n.proc, n.exited = cmd.Process, exited
}

// kill sends SIGKILL to the node's process, by its PID, and waits until it
// is gone. It does nothing when the node is not running.
func (n *testNode) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return
	}
	n.proc.Kill()
	<-n.exited
	n.proc = nil
}

// waitHealthy waits until each node's /healthz answers 200.
func (c *testCluster) waitHealthy(ctx context.Context, nodes ...*testNode) {
	c.t.Helper()
	require.NoError(c.t, c.healthy(ctx, nodes...))
}

// healthy polls each node's /healthz (JetStream enabled, in contact with a
// meta leader, its assets current) until it answers 200. It fails with
// errNodeExited as soon as a node's process is gone.
func (c *testCluster) healthy(ctx context.Context, nodes ...*testNode) error {
	hc := &http.Client{Timeout: time.Second}
	for _, n := range nodes {
		var last string
		var exited bool
		ok := poll(ctx, 20*time.Millisecond, func() bool {
			select {
			case <-n.exitedChan():
				exited = true
				return true
			default:
			}
			resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.httpPort))
			if err != nil {
				last = err.Error()
				return false
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, body.String())
			return resp.StatusCode == http.StatusOK
		})
		if exited {
			out, _ := os.ReadFile(n.logPath())
			if len(out) > 2000 {
				out = out[len(out)-2000:]
			}
			return fmt.Errorf("%w: %s: %s", errNodeExited, n.name, out)
		}
		if !ok {
			return fmt.Errorf("%s not healthy: %s", n.name, last)
		}
	}
	return nil
}

func (n *testNode) exitedChan() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exited == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return n.exited
}

// waitMetaLeader waits until a JetStream API request that needs the meta
// leader succeeds.
func (c *testCluster) waitMetaLeader(ctx context.Context) {
	c.t.Helper()
	nc := c.connect(c.t, 0)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(c.t, err)
	var last error
	ok := poll(ctx, 20*time.Millisecond, func() bool {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, last = js.AccountInfo(rctx)
		return last == nil
	})
	require.True(c.t, ok, "no JetStream meta leader: %v", last)
}

// connect opens a client to all three nodes, trying node first first, that
// reconnects forever and quickly.
func (c *testCluster) connect(t *testing.T, first int) *nats.Conn {
	t.Helper()
	urls := make([]string, 0, len(c.nodes))
	for i := range c.nodes {
		urls = append(urls, c.nodes[(first+i)%len(c.nodes)].url())
	}
	nc, err := nats.Connect(strings.Join(urls, ","),
		nats.Name(fmt.Sprintf("ensue-test-%s", c.nodes[first].name)),
		nats.DontRandomize(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
		nats.Timeout(2*time.Second),
	)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func (c *testCluster) node(name string) *testNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no node named %q", name)
	return nil
}

// streamLeader returns the name of the node leading a JetStream stream.
func streamLeader(ctx context.Context, t *testing.T, nc *nats.Conn, stream string) string {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var leader string
	var last error
	ok := poll(ctx, 20*time.Millisecond, func() bool {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		s, err := js.Stream(rctx, stream)
		if err != nil {
			last = err
			return false
		}
		info := s.CachedInfo()
		if info.Cluster == nil || info.Cluster.Leader == "" {
			last = errors.New("no leader yet")
			return false
		}
		leader = info.Cluster.Leader
		return true
	})
	require.True(t, ok, "stream %s has no leader: %v", stream, last)
	return leader
}

// stallMeter measures how long the test process was not running: a
// goroutine that wakes every few milliseconds notes how late it woke. On a
// shared machine under heavy load (CPU pressure at 97 % was common while
// these tests were written) the whole process can stop for most of a
// second, which says nothing about the code under test.
type stallMeter struct {
	sum, max atomic.Int64
}

func startStallMeter(t *testing.T) *stallMeter {
	m := &stallMeter{}
	done := make(chan struct{})
	exited := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		<-exited
	})
	go func() {
		defer close(exited)
		const period = 5 * time.Millisecond
		tick := time.NewTicker(period)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			now := time.Now()
			if late := now.Sub(last) - period; late > period {
				m.sum.Add(int64(late))
				if int64(late) > m.max.Load() {
					m.max.Store(int64(late))
				}
			}
			last = now
		}
	}()
	return m
}

func (m *stallMeter) total() time.Duration   { return time.Duration(m.sum.Load()) }
func (m *stallMeter) longest() time.Duration { return time.Duration(m.max.Load()) }

// poll calls cond every interval until it is true (true) or ctx is done (false).
func poll(ctx context.Context, interval time.Duration, cond func() bool) bool {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// ports handed out in this test process, never twice.
var portRegistry struct {
	sync.Mutex
	used map[int]bool
}

// freePorts picks n distinct loopback ports that were free a moment ago,
// below the kernel's ephemeral range, where outgoing connections (of this
// test and of anything else on the machine) do not take them meanwhile.
// They are released before the servers bind them; startCluster copes with
// the rare port taken in between.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	portRegistry.Lock()
	defer portRegistry.Unlock()
	if portRegistry.used == nil {
		portRegistry.used = make(map[int]bool)
	}
	low := ephemeralLow()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		require.Less(t, tries, 10_000, "no free ports between 10000 and %d", low)
		p := 10_000 + rand.IntN(low-10_000)
		if portRegistry.used[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, p)
		portRegistry.used[p] = true
	}
	return ports
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil || low <= 11_000 {
		return fallback
	}
	return low
}

var streamCounter struct {
	sync.Mutex
	n int
}

func uniqueStreamName(prefix string) string {
	streamCounter.Lock()
	defer streamCounter.Unlock()
	streamCounter.n++
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), streamCounter.n)
}

// openLog opens the log, trying again while the cluster does not answer:
// a JetStream API answer can be lost (seen once in about ten runs, right
// after the cluster formed: the stream was created, its creation was never
// acknowledged), and creating the stream again is harmless.
func openLog(t *testing.T, nc *nats.Conn, stream string) *eventlog.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var l *eventlog.JetStream
	var err error
	ok := poll(ctx, 10*time.Millisecond, func() bool {
		octx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		l, err = eventlog.Open(octx, nc, eventlog.Config{Replicas: 3, Stream: stream})
		return err == nil
	})
	require.True(t, ok, "open the log: %v", err)
	return l
}

func TestClusterConformance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster")
	}
	c := startCluster(t)
	stream := uniqueStreamName("CONF")
	openLog(t, c.connect(t, 0), stream)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader := streamLeader(ctx, t, c.connect(t, 0), stream)
	// The suite runs once through each node: through the stream leader's
	// node every read is fresh; through a follower's, direct gets are
	// answered by that follower, which may not have applied the latest
	// acknowledged writes yet.
	for i, n := range c.nodes {
		role := "follower"
		if n.name == leader {
			role = "leader"
		}
		t.Run(n.name+"-"+role, func(t *testing.T) {
			t.Parallel()
			l := openLog(t, c.connect(t, i), stream)
			t.Cleanup(func() {
				t.Logf("%d reads were completed by the stream leader; %d appends retried after 10164, %d after 10071",
					l.StaleReads(), l.InProcessRetries(), l.ConflictRetries())
			})
			logtest.Exercise(t, logtest.Harness{Open: func(t *testing.T) eventlog.Log { return l }})
		})
	}
}

// loadRecorder collects what the load generators of
// TestClusterNodeKilledUnderLoad were told.
type loadRecorder struct {
	mu        sync.Mutex
	acked     []ackedEntry
	failed    map[string]int // by error kind
	conflicts int
	slowest   time.Duration
	slowestOp string
}

type ackedEntry struct {
	stream string
	data   string
	res    eventlog.Result
}

func (r *loadRecorder) call(op string, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if took > r.slowest {
		r.slowest, r.slowestOp = took, op
	}
}

func (r *loadRecorder) ack(stream, data string, res eventlog.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked = append(r.acked, ackedEntry{stream: stream, data: data, res: res})
}

// fail records a failed call; versionStated tells whether it stated an
// expected version, without which a conflict is a bug: a refusal because
// another write was still replicating (10164) or got there first (10071)
// must be retried.
func (r *loadRecorder) fail(t *testing.T, err error, versionStated bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, eventlog.ErrWrongExpectedVersion):
		if !versionStated {
			t.Errorf("an append with AnyVersion failed with a version conflict: %v", err)
		}
		r.conflicts++
	case errors.Is(err, eventlog.ErrUnavailable):
		r.failed["unavailable"]++
	default:
		// Every failure must be one a caller can branch on.
		t.Errorf("append failed with an unclassified error: %v", err)
		r.failed["other"]++
	}
}

func (r *loadRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

// TestClusterNodeKilledUnderLoad kills the stream leader's node with
// SIGKILL while appends are running, then restarts it, and checks that
// nothing acknowledged is lost or duplicated and that streams stay dense.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster")
	}
	testStart := time.Now()
	c := startCluster(t)
	stream := uniqueStreamName("KILL")
	ns := logtest.Namespace("kill")
	// One log per node, as three Ensue processes would have, each preferring
	// its own node and failing over to the others.
	logs := make([]*eventlog.JetStream, len(c.nodes))
	for i := range c.nodes {
		logs[i] = openLog(t, c.connect(t, i), stream)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	control := c.connect(t, 0)

	const (
		coldStreams = 300
		hotStream   = "hot"
		callTimeout = 2 * time.Second
		// A call may overrun its context by this much (scheduling under
		// -race on a small machine), never by a whole retry or timeout.
		overrun = 500 * time.Millisecond
	)
	rec := &loadRecorder{failed: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stalls := startStallMeter(t)
	timed := func(op string, f func(ctx context.Context)) {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		start, stalledBefore := time.Now(), stalls.total()
		f(cctx)
		took, stalled := time.Since(start), stalls.total()-stalledBefore
		rec.call(op, took)
		// Time the whole test process was not running is nobody's wait.
		if took-stalled > callTimeout+overrun {
			t.Errorf("%s took %v with a %v context (the process stalled %v meanwhile)", op, took, callTimeout, stalled)
		}
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	// Single appends to a few hundred streams, no expected version.
	for w := range 6 {
		l := logs[w%len(logs)]
		wg.Go(func() {
			for i := 0; !stopped(); i++ {
				s := fmt.Sprintf("cold-%d", (w*7919+i*31)%coldStreams)
				data := fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)
				timed("append", func(cctx context.Context) {
					r := l.Append(cctx, ns, []eventlog.Entry{{Stream: s, Expected: eventlog.AnyVersion, Data: []byte(data)}})[0]
					if r.Err != nil {
						rec.fail(t, r.Err, false)
						return
					}
					rec.ack(s, data, r)
				})
			}
		})
	}
	// Expected-version appends to one hot stream from every log.
	for w := range logs {
		l := logs[w]
		wg.Go(func() {
			for i := 0; !stopped(); i++ {
				data := fmt.Sprintf(`{"hot":%d,"i":%d}`, w, i)
				timed("expected-version append", func(cctx context.Context) {
					v, _, err := l.StreamVersion(cctx, ns, hotStream)
					if err != nil {
						rec.fail(t, err, true)
						return
					}
					r := l.Append(cctx, ns, []eventlog.Entry{{Stream: hotStream, Expected: int64(v), Data: []byte(data)}})[0]
					if r.Err != nil {
						rec.fail(t, r.Err, true)
						return
					}
					if r.Version != v+1 {
						t.Errorf("append expecting version %d got version %d", v, r.Version)
					}
					rec.ack(hotStream, data, r)
				})
			}
		})
	}
	// A subscriber follows the namespace from the start through the kill;
	// it must see every record once, in log order.
	sub, err := logs[2].Subscribe(ctx, eventlog.Query{Namespace: ns})
	require.NoError(t, err)
	defer sub.Stop()
	var subMu sync.Mutex
	var subSeen []uint64
	var subErr error
	subCtx, subCancel := context.WithCancel(ctx)
	defer subCancel()
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for {
			r, err := sub.Next(subCtx)
			subMu.Lock()
			if err != nil {
				if subCtx.Err() == nil {
					subErr = err
				}
				subMu.Unlock()
				return
			}
			subSeen = append(subSeen, r.Position)
			subMu.Unlock()
		}
	}()
	// Atomic batches of three entries over the cold streams.
	wg.Go(func() {
		l := logs[1]
		for i := 0; !stopped(); i++ {
			es := make([]eventlog.Entry, 3)
			for k := range es {
				es[k] = eventlog.Entry{
					Stream:   fmt.Sprintf("cold-%d", (i*3+k)*17%coldStreams),
					Expected: eventlog.AnyVersion,
					Data:     []byte(fmt.Sprintf(`{"atomic":%d,"k":%d}`, i, k)),
				}
			}
			timed("atomic append", func(cctx context.Context) {
				res, err := l.AppendAtomic(cctx, ns, es)
				if err != nil {
					rec.fail(t, err, false)
					return
				}
				for k, r := range res {
					rec.ack(es[k].Stream, string(es[k].Data), r)
				}
			})
		}
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	// Let the load run, then kill the stream leader's node.
	loadStart := time.Now()
	require.True(t, poll(ctx, 10*time.Millisecond, func() bool { return rec.count() >= 500 }), "no load")
	leader := streamLeader(ctx, t, control, stream)
	victim := c.node(leader)
	before := rec.count()
	killedAt := time.Now()
	victim.kill()
	t.Logf("killed %s (stream leader) after %d appends acknowledged in %v", leader, before, killedAt.Sub(loadStart).Round(time.Millisecond))

	// Wait for a new leader, keep writing through it for a while.
	var newLeader string
	require.True(t, poll(ctx, 20*time.Millisecond, func() bool {
		l := streamLeader(ctx, t, control, stream)
		newLeader = l
		return l != leader
	}), "no new stream leader")
	electedAt := time.Now()
	t.Logf("%s leads after %v", newLeader, electedAt.Sub(killedAt).Round(time.Millisecond))
	afterElection := rec.count()
	require.True(t, poll(ctx, 10*time.Millisecond, func() bool { return rec.count() >= afterElection+500 }),
		"appends did not resume under the new leader")

	// Bring the killed node back and keep writing while it catches up.
	victim.start(t, natsServerBinary(t))
	// Read the latest acknowledged appends back through the restarted node
	// while it catches up: its replica is the likeliest to be behind.
	var vnc *nats.Conn
	require.True(t, poll(ctx, 10*time.Millisecond, func() bool {
		vnc, err = nats.Connect(victim.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		return err == nil
	}), "connect to the restarted %s: %v", victim.name, err)
	t.Cleanup(vnc.Close)
	// Until the node is back in the cluster, it cannot answer JetStream
	// requests at all: openLog tries again.
	vl := openLog(t, vnc, stream)
	var catchUpReads, catchUpUnavailable int
	wg.Go(func() {
		for !stopped() {
			rec.mu.Lock()
			a := rec.acked[len(rec.acked)-1]
			rec.mu.Unlock()
			timed("read through the restarted node", func(cctx context.Context) {
				r, err := vl.Get(cctx, a.res.Position)
				if errors.Is(err, eventlog.ErrUnavailable) {
					catchUpUnavailable++
					return
				}
				if err != nil || string(r.Data) != a.data {
					t.Errorf("Get(%d) through the restarted node: %q, %v; acknowledged %q", a.res.Position, r.Data, err, a.data)
					return
				}
				recs, _, err := vl.ReadStream(cctx, ns, a.stream, a.res.Version, 1, false)
				if errors.Is(err, eventlog.ErrUnavailable) {
					catchUpUnavailable++
					return
				}
				if err != nil || len(recs) != 1 || string(recs[0].Data) != a.data {
					t.Errorf("ReadStream(%s, %d) through the restarted node: %v, %v; acknowledged %q", a.stream, a.res.Version, recs, err, a.data)
					return
				}
				catchUpReads++
			})
		}
	})
	c.waitHealthy(ctx, victim)
	t.Logf("%s back and current %v after the kill (%d more appends acknowledged since the election)",
		leader, time.Since(killedAt).Round(time.Millisecond), rec.count()-afterElection)
	afterRestart := rec.count()
	require.True(t, poll(ctx, 10*time.Millisecond, func() bool { return rec.count() >= afterRestart+300 }),
		"appends stalled after the restart")
	t.Logf("300 more appends acknowledged %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	close(stop)
	wg.Wait()
	loadEnd := time.Now()
	for i, l := range logs {
		t.Logf("log %d: %d asynchronous publishes still awaiting an acknowledgement", i, l.PublishAsyncPending())
	}

	rec.mu.Lock()
	t.Logf("%d appends acknowledged, %d expected-version conflicts, failures %v, slowest call %v (%s); the test process stalled %v in all, at most %v at once",
		len(rec.acked), rec.conflicts, rec.failed, rec.slowest.Round(time.Millisecond), rec.slowestOp,
		stalls.total().Round(time.Millisecond), stalls.longest().Round(time.Millisecond))
	acked := rec.acked
	rec.mu.Unlock()

	t.Logf("through the restarted node while it caught up: %d reads of the latest append, %d unavailable, %d completed by the leader",
		catchUpReads, catchUpUnavailable, vl.StaleReads())
	staleBefore := vl.StaleReads()

	// Verify everything through the restarted node too.

	positions := make(map[uint64]ackedEntry, len(acked))
	type streamVersion struct {
		stream  string
		version uint64
	}
	byVersion := make(map[streamVersion]ackedEntry, len(acked))
	for _, a := range acked {
		if prev, dup := positions[a.res.Position]; dup {
			t.Fatalf("position %d acknowledged twice: %q and %q", a.res.Position, prev.data, a.data)
		}
		positions[a.res.Position] = a
		sv := streamVersion{a.stream, a.res.Version}
		if prev, dup := byVersion[sv]; dup {
			t.Fatalf("%s version %d acknowledged twice: %q and %q", a.stream, a.res.Version, prev.data, a.data)
		}
		byVersion[sv] = a
	}
	for _, a := range acked {
		r, err := vl.Get(ctx, a.res.Position)
		require.NoError(t, err, "acknowledged position %d", a.res.Position)
		require.Equal(t, a.data, string(r.Data), "position %d", a.res.Position)
		require.Equal(t, a.stream, r.Stream, "position %d", a.res.Position)
		require.Equal(t, a.res.Version, r.Version, "position %d", a.res.Position)
		require.Equal(t, ns, r.Namespace)
	}
	streams := []string{hotStream}
	for i := range coldStreams {
		streams = append(streams, fmt.Sprintf("cold-%d", i))
	}
	total := 0
	for _, s := range streams {
		recs, cur, err := vl.ReadStream(ctx, ns, s, 1, 100_000, false)
		require.NoError(t, err)
		require.Len(t, recs, int(cur), "%s", s)
		seen := make(map[string]bool, len(recs))
		for i, r := range recs {
			require.Equal(t, uint64(i+1), r.Version, "%s is dense", s)
			require.False(t, seen[string(r.Data)], "%s holds %s twice", s, r.Data)
			seen[string(r.Data)] = true
			if a, ok := byVersion[streamVersion{s, r.Version}]; ok {
				require.Equal(t, a.res.Position, r.Position, "%s version %d", s, r.Version)
			}
		}
		total += len(recs)
	}
	// Nothing else in the namespace, and in log order.
	var n int
	var after uint64
	for {
		recs, next, err := vl.Read(ctx, eventlog.Query{Namespace: ns, After: after, Limit: 1000})
		require.NoError(t, err)
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			require.Greater(t, r.Position, after)
			after = r.Position
		}
		n += len(recs)
		after = next
	}
	require.Equal(t, total, n, "records in the namespace")

	subCount := func() int {
		subMu.Lock()
		defer subMu.Unlock()
		return len(subSeen)
	}
	require.True(t, poll(ctx, 10*time.Millisecond, func() bool { return subCount() >= total }),
		"the subscriber saw %d of %d records", subCount(), total)
	subCancel()
	<-subDone
	require.NoError(t, subErr)
	for i := 1; i < len(subSeen); i++ {
		require.Greater(t, subSeen[i], subSeen[i-1], "subscription order at record %d", i)
	}
	require.Len(t, subSeen, total)
	for i, l := range logs {
		t.Logf("log %d: retried %d appends refused while a write was replicating (10164), %d after another writer got there first (10071)",
			i, l.InProcessRetries(), l.ConflictRetries())
	}
	t.Logf("%d records stored (%d unacknowledged but stored), %d reads completed by the leader while verifying; load %v, verify %v, whole test %v",
		total, total-len(acked), vl.StaleReads()-staleBefore, loadEnd.Sub(testStart).Round(time.Millisecond),
		time.Since(loadEnd).Round(time.Millisecond), time.Since(testStart).Round(time.Millisecond))
}
