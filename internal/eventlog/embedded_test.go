package eventlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/eventlog/logtest"
)

// openEmbedded opens a log on a fresh embedded server that stops with the test.
func openEmbedded(t *testing.T) *eventlog.JetStream {
	t.Helper()
	return logtest.Open(t, logtest.StartEmbedded(t), eventlog.Config{})
}

func TestEmbeddedConformance(t *testing.T) {
	t.Parallel()
	l := openEmbedded(t)
	logtest.Exercise(t, logtest.Harness{Open: func(t *testing.T) eventlog.Log { return l }})
}

// An append waiting for an earlier append to the same stream in the same
// process gives up when its own context ends.
func TestAppendWaitingForItsStreamHonoursContext(t *testing.T) {
	t.Parallel()
	l := openEmbedded(t)

	l.ForceShared()
	release := l.HoldStream("ns", "s")
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := l.Append(ctx, "ns", []eventlog.Entry{{Stream: "s", Expected: eventlog.AnyVersion, Data: []byte("1")}, {Data: []byte("2")}})
	require.Less(t, time.Since(start), 2*time.Second)
	for _, r := range res {
		require.ErrorIs(t, r.Err, eventlog.ErrUnavailable)
	}
	_, err := l.AppendAtomic(ctx, "ns", []eventlog.Entry{{Stream: "s", Expected: eventlog.AnyVersion, Data: []byte("3")}})
	var be *eventlog.BatchError
	require.ErrorAs(t, err, &be)
	require.ErrorIs(t, err, eventlog.ErrUnavailable)

	release()
	r := l.Append(context.Background(), "ns", []eventlog.Entry{{Stream: "s", Expected: 0, Data: []byte("4")}})[0]
	require.NoError(t, r.Err)
	require.Equal(t, uint64(1), r.Version)
}

// Two processes appending to one log: each breaks the other's chain (see
// chain.go), notices the other writer and goes on per stream. Nothing
// acknowledged is lost or stored twice, and every stream's versions are
// dense.
func TestTwoWritersShareTheLog(t *testing.T) {
	t.Parallel()
	srv := logtest.StartEmbedded(t)
	logs := []*eventlog.JetStream{logtest.Open(t, srv, eventlog.Config{}), logtest.Open(t, srv, eventlog.Config{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type acked struct {
		data string
		res  eventlog.Result
	}
	var mu sync.Mutex
	var all []acked
	var wg sync.WaitGroup
	for w := range 4 {
		l := logs[w%2]
		wg.Go(func() {
			for round := range 30 {
				es := make([]eventlog.Entry, 20)
				for k := range es {
					es[k] = eventlog.Entry{Stream: fmt.Sprintf("s%d", (round+k)%5), Expected: eventlog.AnyVersion, Data: fmt.Appendf(nil, `"%d-%d-%d"`, w, round, k)}
				}
				if round%10 == 0 {
					es[0].Stream = ""
				}
				res := l.Append(ctx, "two", es)
				mu.Lock()
				for k, r := range res {
					if !assert.NoError(t, r.Err) {
						continue
					}
					all = append(all, acked{data: string(es[k].Data), res: r})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, all, 4*30*20)
	byPos := make(map[uint64]string, len(all))
	for _, a := range all {
		require.NotContains(t, byPos, a.res.Position, "two events acknowledged at one position")
		byPos[a.res.Position] = a.data
		r, err := logs[0].Get(ctx, a.res.Position)
		require.NoError(t, err)
		require.Equal(t, a.data, string(r.Data))
		require.Equal(t, a.res.Version, r.Version)
	}
	for s := range 5 {
		recs, cur, err := logs[1].ReadStream(ctx, "two", fmt.Sprintf("s%d", s), 1, 1000, false)
		require.NoError(t, err)
		require.Len(t, recs, int(cur))
		for i, r := range recs {
			require.Equal(t, uint64(i+1), r.Version, "stream s%d is dense", s)
			require.Equal(t, byPos[r.Position], string(r.Data), "only acknowledged events are stored")
		}
	}
	require.True(t, logs[0].Shared() || logs[1].Shared(), "a writer noticed the other")
}

func TestEmbeddedConformanceSoleWriter(t *testing.T) {
	t.Parallel()
	l := logtest.Open(t, logtest.StartEmbedded(t), eventlog.Config{SoleWriter: true})
	logtest.Exercise(t, logtest.Harness{Open: func(t *testing.T) eventlog.Log { return l }})
}

// A version cache smaller than the streams written makes the log drop it
// and read versions again, as often as it fills: versions stay dense.
func TestSmallVersionCacheKeepsVersionsDense(t *testing.T) {
	t.Parallel()
	for _, sole := range []bool{false, true} {
		l := logtest.Open(t, logtest.StartEmbedded(t), eventlog.Config{MaxCachedStreams: 3, SoleWriter: sole})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for round := range 5 {
			es := make([]eventlog.Entry, 20)
			for k := range es {
				es[k] = eventlog.Entry{Stream: fmt.Sprintf("s%d", k%10), Expected: eventlog.AnyVersion, Data: []byte(`1`)}
			}
			for k, r := range l.Append(ctx, "small", es) {
				require.NoError(t, r.Err)
				require.Equal(t, uint64(2*round+k/10+1), r.Version, "sole=%v round %d entry %d", sole, round, k)
			}
		}
	}
}
