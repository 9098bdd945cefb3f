package eventlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
// by PID, when the test ends.
func startCluster(t *testing.T) *testCluster {
	t.Helper()
	bin := natsServerBinary(t)
	ports := freePorts(t, 9)
	c := &testCluster{t: t}
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
				out, _ := os.ReadFile(filepath.Join(n.dir, "server.log"))
				if len(out) > 8000 {
					out = out[len(out)-8000:]
				}
				t.Logf("--- %s log tail ---\n%s", n.name, out)
			}
		}
	})
	for _, n := range c.nodes {
		n.start(t, bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c.waitHealthy(ctx, c.nodes...)
	c.waitMetaLeader(ctx)
	t.Logf("cluster of 3 ready in %v", time.Since(start).Round(time.Millisecond))
	return c
}

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
  name: ensue-test
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.name, n.clientPort, n.httpPort, 1<<20+eventlog.HeaderRoom,
		filepath.Join(n.dir, "server.log"), filepath.Join(n.dir, "js"),
		n.clusterPort, strings.Join(routes, ", "))
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

// waitHealthy polls each node's /healthz (JetStream enabled, in contact
// with a meta leader, its assets current) until it answers 200.
func (c *testCluster) waitHealthy(ctx context.Context, nodes ...*testNode) {
	c.t.Helper()
	hc := &http.Client{Timeout: time.Second}
	for _, n := range nodes {
		var last string
		ok := poll(ctx, 20*time.Millisecond, func() bool {
			select {
			case <-n.exitedChan():
				last = "process exited"
				return false
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
		require.True(c.t, ok, "%s not healthy: %s", n.name, last)
	}
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

// freePorts reserves n distinct free loopback ports. They are released
// before the servers bind them; holding all n listeners at once makes the
// n ports distinct.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
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

func openLog(t *testing.T, nc *nats.Conn, stream string) *eventlog.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, nc, eventlog.Config{Replicas: 3, Stream: stream})
	require.NoError(t, err)
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
			t.Cleanup(func() { t.Logf("%d reads were completed by the stream leader", l.StaleReads()) })
			logtest.Exercise(t, logtest.Harness{Open: func(t *testing.T) eventlog.Log { return l }})
		})
	}
}
