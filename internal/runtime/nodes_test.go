package runtime_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/server"
	"github.com/ensue-dev/ensue/internal/servertest"
)

// TestOneNodeRunsTheSteps runs two Ensue nodes on one external JetStream:
// both take events and answer the API, one at a time runs the steps, so
// each event is delivered once; when that node stops, the other takes over.
func TestOneNodeRunsTheSteps(t *testing.T) {
	t.Parallel()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true, MaxPayload: 2 << 20})
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(ns.Shutdown)
	require.True(t, ns.ReadyForConnections(10*time.Second))

	var mu sync.Mutex
	calls := map[string]int{}
	target := newSink(t, nil)

	start := func() *servertest.Server {
		return servertest.StartWith(t, servertest.Options{Config: server.Config{NATSURL: ns.ClientURL()}})
	}
	a, b := start(), start()
	ca, cb := client{t: t, base: a.URL}, client{t: t, base: b.URL}
	ca.json("PUT", "/v1/flows/fanout", fmt.Sprintf(`
name: fanout
on: {type: job}
steps:
  - id: call
    http: {url: %s/job, body: 'event.data'}
`, target.URL), 201, nil)
	// The other node has the flow too: both follow the same log.
	require.Eventually(t, func() bool {
		status, _ := cb.do("GET", "/v1/flows/fanout", "", nil)
		return status == 200
	}, 10*time.Second, 10*time.Millisecond)

	emitN := func(c client, from, n int) []uint64 {
		var pos []uint64
		for i := from; i < from+n; i++ {
			pos = append(pos, c.emit(map[string]any{"id": fmt.Sprintf("j-%d", i), "source": "/jobs", "type": "job", "data": map[string]any{"i": i}}))
		}
		return pos
	}
	waitDone := func(c client, pos []uint64) {
		for _, p := range pos {
			r := c.waitRun(fmt.Sprintf("fanout-%d", p), finished)
			require.Equal(t, "completed", r.Status)
		}
	}
	first := append(emitN(ca, 0, 10), emitN(cb, 10, 10)...)
	waitDone(ca, first)
	waitDone(cb, first)
	for _, rq := range target.got() {
		mu.Lock()
		calls[rq.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	}
	require.Len(t, calls, 20)
	for k, n := range calls {
		require.Equal(t, 1, n, "run step %s delivered %d times by two nodes", k, n)
	}

	// Stop whichever leads; the other carries on.
	leader, other, oc := a, b, cb
	if !a.Server.Runtime().Leading() {
		leader, other, oc = b, a, ca
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, leader.Server.Stop(ctx))
	second := emitN(oc, 20, 5)
	waitDone(oc, second)
	require.True(t, other.Server.Runtime().Leading())
	require.Len(t, target.got(), 25)
}
