package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/server"
	"github.com/ensue-dev/ensue/internal/servertest"
	"github.com/ensue-dev/ensue/sdk"
)

// fastRetry makes consumers reconnect quickly in tests.
var fastRetry = sdk.WithReconnectPolicy(sdk.ReconnectPolicy{MinDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond, MaxAttempts: 300})

// appendOrders appends n events of type order.placed (and one of another
// type after each, which the consumers' filter skips) and returns the
// positions of the orders.
func appendOrders(t *testing.T, c *sdk.Client, from, n int) []int64 {
	t.Helper()
	var out []int64
	for i := from; i < from+n; i++ {
		res, err := c.Append(t.Context(), sdk.Event{Source: "/shop", Type: "order.placed", Subject: fmt.Sprint("order-", i), Data: map[string]int{"n": i}})
		require.NoError(t, err)
		out = append(out, res.Position)
		_, err = c.Append(t.Context(), sdk.Event{Source: "/shop", Type: "cart.viewed"})
		require.NoError(t, err)
	}
	return out
}

// collector is a handler that records the positions it handled.
type collector struct {
	mu   sync.Mutex
	got  []int64
	seen chan struct{}
}

func newCollector() *collector { return &collector{seen: make(chan struct{}, 1000)} }

func (h *collector) handle(_ context.Context, rec sdk.Record) error {
	h.mu.Lock()
	h.got = append(h.got, rec.Position)
	h.mu.Unlock()
	h.seen <- struct{}{}
	return nil
}

func (h *collector) positions() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.got...)
}

// waitFor waits until n records were handled in all.
func (h *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for len(h.positions()) < n {
		select {
		case <-h.seen:
		case <-deadline:
			t.Fatalf("handled %d records, want %d", len(h.positions()), n)
		}
	}
}

// runConsumer runs k in the background and returns a stop function that
// cancels it and returns Run's error.
func runConsumer(k *sdk.Consumer, handle func(context.Context, sdk.Record) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, handle) }()
	return func() error {
		cancel()
		return <-done
	}
}

func TestConsumerCatchUpThenLive(t *testing.T) {
	t.Parallel()
	c := newClient(t, sdk.WithNamespace("shop"), fastRetry)
	want := appendOrders(t, c, 0, 25)
	h := newCollector()
	stop := runConsumer(c.Consumer("billing", sdk.ConsumerFilter{Type: "order.*"}, sdk.FetchLimit(7), sdk.PollWait(time.Second)), h.handle)
	h.waitFor(t, 25)
	want = append(want, appendOrders(t, c, 25, 10)...)
	h.waitFor(t, 35)
	require.ErrorIs(t, stop(), context.Canceled)
	require.Equal(t, want, h.positions())

	info, err := c.ConsumerInfo(t.Context(), "billing")
	require.NoError(t, err)
	require.Equal(t, sdk.ConsumerFilter{Type: "order.*"}, info.Filter)
	require.GreaterOrEqual(t, info.Checkpoint, want[len(want)-1])

	// Another filter under the same name is refused; a reset replaces it.
	_, err = c.CreateConsumer(t.Context(), "billing", sdk.ConsumerFilter{Type: "cart.*"}, 0)
	require.Error(t, err)
	info, err = c.ResetConsumer(t.Context(), "billing", sdk.ConsumerFilter{Type: "cart.*"}, sdk.EndOfLog)
	require.NoError(t, err)
	require.Equal(t, sdk.ConsumerFilter{Type: "cart.*"}, info.Filter)
	require.NoError(t, c.DeleteConsumer(t.Context(), "billing"))
	_, err = c.ConsumerInfo(t.Context(), "billing")
	require.ErrorIs(t, err, sdk.ErrNotFound)
}

// TestConsumerRestart: a consumer stopped after k records resumes exactly
// after the last acknowledged one, acknowledging per record or per batch.
func TestConsumerRestart(t *testing.T) {
	t.Parallel()
	c := newClient(t, fastRetry)
	want := appendOrders(t, c, 0, 40)
	for _, tc := range []struct {
		name string
		opts []sdk.ConsumerOption
	}{
		{"per record", nil},
		{"per batch", []sdk.ConsumerOption{sdk.AckEachBatch(), sdk.FetchLimit(6)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := strings.ReplaceAll(tc.name, " ", "-")
			var got []int64
			run := func(stopAfter int) error {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				n := 0
				return c.Consumer(name, sdk.ConsumerFilter{Type: "order.placed"}, tc.opts...).Run(ctx, func(_ context.Context, rec sdk.Record) error {
					got = append(got, rec.Position)
					if n++; n == stopAfter || len(got) == len(want) {
						cancel()
					}
					return nil
				})
			}
			require.ErrorIs(t, run(17), context.Canceled)
			require.Equal(t, want[:17], got)
			info, err := c.ConsumerInfo(t.Context(), name)
			require.NoError(t, err)
			require.Equal(t, want[16], info.Checkpoint, "acknowledged up to the last handled record")

			require.ErrorIs(t, run(9), context.Canceled)
			require.Equal(t, want[:26], got)
			require.ErrorIs(t, run(0), context.Canceled)
			require.Equal(t, want, got, "no gap, no duplicate")
		})
	}
}

// TestConsumerHandlerError: Run returns the handler's error; the failed
// record is delivered again, nothing before it is.
func TestConsumerHandlerError(t *testing.T) {
	t.Parallel()
	c := newClient(t, fastRetry)
	want := appendOrders(t, c, 0, 10)
	boom := errors.New("boom")
	var got []int64
	k := c.Consumer("flaky", sdk.ConsumerFilter{Type: "order.placed"}, sdk.AckEachBatch())
	err := k.Run(t.Context(), func(_ context.Context, rec sdk.Record) error {
		if rec.Position == want[4] {
			return boom
		}
		got = append(got, rec.Position)
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, want[:4], got)
	info, err := c.ConsumerInfo(t.Context(), "flaky")
	require.NoError(t, err)
	require.Equal(t, want[3], info.Checkpoint)

	ctx, cancel := context.WithCancel(t.Context())
	err = k.Run(ctx, func(_ context.Context, rec sdk.Record) error {
		got = append(got, rec.Position)
		if len(got) == len(want) {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, want, got)
}

// TestConsumerServerRestart: the server stops and starts again (same data,
// same address) while a consumer runs, then both restart: the consumer
// delivers every record once, in order.
func TestConsumerServerRestart(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	restart := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Server.Stop(ctx))
		srv = servertest.StartWith(t, servertest.Options{Config: server.Config{Addr: addr, DataDir: srv.DataDir}})
	}
	c := sdk.New(srv.URL, fastRetry)
	want := appendOrders(t, c, 0, 10)
	h := newCollector()
	stop := runConsumer(c.Consumer("audit", sdk.ConsumerFilter{Type: "order.*"}, sdk.PollWait(5*time.Second)), h.handle)
	h.waitFor(t, 10)

	restart()
	want = append(want, appendOrders(t, c, 10, 10)...)
	h.waitFor(t, 20)
	require.ErrorIs(t, stop(), context.Canceled)

	// Both sides restart, with records recorded while the consumer is down.
	want = append(want, appendOrders(t, c, 20, 5)...)
	restart()
	want = append(want, appendOrders(t, c, 25, 5)...)
	stop = runConsumer(c.Consumer("audit", sdk.ConsumerFilter{Type: "order.*"}), h.handle)
	h.waitFor(t, 30)
	require.ErrorIs(t, stop(), context.Canceled)
	require.Equal(t, want, h.positions())
}

// TestConsumerAckRace: concurrent acknowledgements never move the
// checkpoint back: it ends at the highest position acknowledged, and an
// acknowledgement refused is one behind the checkpoint.
func TestConsumerAckRace(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	positions := appendOrders(t, c, 0, 20)
	_, err := c.CreateConsumer(t.Context(), "race", sdk.ConsumerFilter{}, 0)
	require.NoError(t, err)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	var wg sync.WaitGroup
	var highest int64
	for w := range 8 {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
		mine := make([]int64, 10)
		for i := range mine {
			mine[i] = positions[rng.IntN(len(positions))]
			highest = max(highest, mine[i])
		}
		wg.Go(func() {
			for _, pos := range mine {
				info, err := c.Ack(context.Background(), "race", pos)
				if err != nil {
					assert.ErrorIs(t, err, sdk.ErrCheckpointMoved)
					continue
				}
				assert.GreaterOrEqual(t, info.Checkpoint, pos)
			}
		})
	}
	wg.Wait()
	info, err := c.ConsumerInfo(t.Context(), "race")
	require.NoError(t, err)
	require.Equal(t, highest, info.Checkpoint)
	_, err = c.Ack(t.Context(), "race", highest-1)
	require.ErrorIs(t, err, sdk.ErrCheckpointMoved)
	_, err = c.Ack(t.Context(), "race", highest)
	require.NoError(t, err, "acknowledging the checkpoint again is a no-op")
}

func ExampleConsumer_Run() {
	c := sdk.New(serverURL, sdk.WithNamespace("example-consumer"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, id := range []string{"o-1", "o-2"} {
		if _, err := c.Append(ctx, sdk.Event{Source: "/shop", Type: "order.placed", Subject: id}); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	handled := 0
	k := c.Consumer("mailer", sdk.ConsumerFilter{Type: "order.*"})
	err := k.Run(ctx, func(ctx context.Context, rec sdk.Record) error {
		fmt.Println("mail for", rec.Stream)
		if handled++; handled == 2 {
			cancel() // stop here; the next Run resumes after o-2
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// mail for o-1
	// mail for o-2
	// context canceled
}
