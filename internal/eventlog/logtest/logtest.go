// Package logtest is the conformance suite of the eventlog.Log seam: every
// way of reaching JetStream (embedded, external cluster) must pass Exercise.
package logtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
)

// Harness gives the suite a fresh log per test. Each call must return a log
// that shares no namespace with logs returned before; the suite uses
// distinct namespaces anyway.
type Harness struct {
	// Open returns the log under test.
	Open func(t *testing.T) eventlog.Log
}

var nsCounter struct {
	sync.Mutex
	n int
}

// Namespace returns a namespace not used before in this process.
func Namespace(prefix string) string {
	nsCounter.Lock()
	defer nsCounter.Unlock()
	nsCounter.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000, nsCounter.n)
}

func entry(stream string, expected int64, data string) eventlog.Entry {
	return eventlog.Entry{Stream: stream, Expected: expected, Data: []byte(data)}
}

// Exercise runs the whole suite.
func Exercise(t *testing.T, h Harness) {
	t.Run("AppendAndGet", func(t *testing.T) { t.Parallel(); appendAndGet(t, h) })
	t.Run("DenseVersionsInABatch", func(t *testing.T) { t.Parallel(); denseVersions(t, h) })
	t.Run("ExpectedVersion", func(t *testing.T) { t.Parallel(); expectedVersion(t, h) })
	t.Run("ConcurrentExpectedVersions", func(t *testing.T) { t.Parallel(); concurrentExpected(t, h) })
	t.Run("Atomic", func(t *testing.T) { t.Parallel(); atomic(t, h) })
	t.Run("ReadStream", func(t *testing.T) { t.Parallel(); readStream(t, h) })
	t.Run("ReadNamespace", func(t *testing.T) { t.Parallel(); readNamespace(t, h) })
	t.Run("Subscribe", func(t *testing.T) { t.Parallel(); subscribe(t, h) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func appendAndGet(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("get")
	res := l.Append(c, ns, []eventlog.Entry{entry("order/1", eventlog.AnyVersion, `{"a":1}`), entry("", eventlog.AnyVersion, `{"b":2}`)})
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	require.Equal(t, uint64(1), res[0].Version)
	require.Zero(t, res[1].Version)
	require.Greater(t, res[1].Position, res[0].Position)

	r, err := l.Get(c, res[0].Position)
	require.NoError(t, err)
	require.Equal(t, ns, r.Namespace)
	require.Equal(t, "order/1", r.Stream)
	require.Equal(t, uint64(1), r.Version)
	require.JSONEq(t, `{"a":1}`, string(r.Data))
	require.WithinDuration(t, time.Now(), r.RecordedAt, time.Minute)

	r, err = l.Get(c, res[1].Position)
	require.NoError(t, err)
	require.Equal(t, "", r.Stream)

	_, err = l.Get(c, res[1].Position+1_000_000)
	require.ErrorIs(t, err, eventlog.ErrNotFound)

	last, err := l.LastPosition(c)
	require.NoError(t, err)
	require.GreaterOrEqual(t, last, res[1].Position)
}

func denseVersions(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("dense")
	var es []eventlog.Entry
	for i := range 30 {
		es = append(es, entry(fmt.Sprintf("s%d", i%3), eventlog.AnyVersion, fmt.Sprintf(`{"i":%d}`, i)))
	}
	res := l.Append(c, ns, es)
	var prev uint64
	for i, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, uint64(i/3+1), r.Version, "entry %d", i)
		require.Greater(t, r.Position, prev, "positions follow input order")
		prev = r.Position
	}
	v, pos, err := l.StreamVersion(c, ns, "s2")
	require.NoError(t, err)
	require.Equal(t, uint64(10), v)
	require.Equal(t, res[29].Position, pos)
}

func expectedVersion(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("exp")
	res := l.Append(c, ns, []eventlog.Entry{entry("a", 0, `1`)})
	require.NoError(t, res[0].Err)
	res = l.Append(c, ns, []eventlog.Entry{entry("a", 0, `2`), entry("a", 1, `3`), entry("a", 5, `4`), entry("b", 0, `5`)})
	var ve *eventlog.VersionError
	require.ErrorAs(t, res[0].Err, &ve)
	require.Equal(t, uint64(1), ve.Current)
	require.NoError(t, res[1].Err)
	require.Equal(t, uint64(2), res[1].Version)
	require.ErrorIs(t, res[2].Err, eventlog.ErrWrongExpectedVersion)
	require.NoError(t, res[3].Err)
	require.Equal(t, uint64(1), res[3].Version)
}

func concurrentExpected(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("race")
	const writers, rounds = 8, 20
	for round := range rounds {
		var wg sync.WaitGroup
		wins := make(chan eventlog.Result, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := l.Append(c, ns, []eventlog.Entry{entry("hot", int64(round), fmt.Sprintf(`{"w":%d}`, w))})[0]
				if r.Err == nil {
					wins <- r
					return
				}
				if !errors.Is(r.Err, eventlog.ErrWrongExpectedVersion) {
					t.Errorf("round %d writer %d: %v", round, w, r.Err)
				}
			}()
		}
		wg.Wait()
		close(wins)
		var n int
		for r := range wins {
			n++
			require.Equal(t, uint64(round+1), r.Version)
		}
		require.Equal(t, 1, n, "exactly one winner in round %d", round)
	}
	recs, cur, err := l.ReadStream(c, ns, "hot", 1, 1000, false)
	require.NoError(t, err)
	require.Equal(t, uint64(rounds), cur)
	for i, r := range recs {
		require.Equal(t, uint64(i+1), r.Version)
	}
}

func atomic(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("atomic")
	res, err := l.AppendAtomic(c, ns, []eventlog.Entry{entry("x", 0, `1`), entry("x", 1, `2`), entry("y", eventlog.AnyVersion, `3`), entry("", eventlog.AnyVersion, `4`)})
	require.NoError(t, err)
	require.Len(t, res, 4)
	for i := 1; i < 4; i++ {
		require.Equal(t, res[i-1].Position+1, res[i].Position, "an atomic batch is contiguous")
	}
	require.Equal(t, uint64(2), res[1].Version)
	require.Equal(t, uint64(1), res[2].Version)

	last, err := l.LastPosition(c)
	require.NoError(t, err)
	_, err = l.AppendAtomic(c, ns, []eventlog.Entry{entry("y", 1, `5`), entry("x", 7, `6`)})
	var be *eventlog.BatchError
	require.ErrorAs(t, err, &be)
	require.Equal(t, 1, be.Index)
	require.ErrorIs(t, err, eventlog.ErrWrongExpectedVersion)
	v, _, err := l.StreamVersion(c, ns, "y")
	require.NoError(t, err)
	require.Equal(t, uint64(1), v, "nothing of a failed batch is stored")
	recs, _, err := l.Read(c, eventlog.Query{Namespace: ns, After: last})
	require.NoError(t, err)
	require.Empty(t, recs)
}

func readStream(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("rs")
	for i := range 50 {
		// Interleave another stream so positions have gaps.
		res := l.Append(c, ns, []eventlog.Entry{entry("main", eventlog.AnyVersion, fmt.Sprintf(`%d`, i+1)), entry("other", eventlog.AnyVersion, `0`)})
		require.NoError(t, res[0].Err)
	}
	recs, cur, err := l.ReadStream(c, ns, "main", 17, 5, false)
	require.NoError(t, err)
	require.Equal(t, uint64(50), cur)
	require.Len(t, recs, 5)
	for i, r := range recs {
		require.Equal(t, uint64(17+i), r.Version)
		require.Equal(t, fmt.Sprint(17+i), string(r.Data))
	}
	recs, _, err = l.ReadStream(c, ns, "main", 0, 3, true)
	require.NoError(t, err)
	require.Equal(t, []uint64{50, 49, 48}, versions(recs))
	recs, _, err = l.ReadStream(c, ns, "main", 2, 10, true)
	require.NoError(t, err)
	require.Equal(t, []uint64{2, 1}, versions(recs))
	recs, _, err = l.ReadStream(c, ns, "main", 49, 10, false)
	require.NoError(t, err)
	require.Equal(t, []uint64{49, 50}, versions(recs))
	recs, cur, err = l.ReadStream(c, ns, "nothing-here", 1, 10, false)
	require.NoError(t, err)
	require.Zero(t, cur)
	require.Empty(t, recs)
}

func versions(recs []eventlog.Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Version
	}
	return out
}

func readNamespace(t *testing.T, h Harness) {
	l, c := h.Open(t), ctx(t)
	ns1, ns2 := Namespace("rn"), Namespace("rn")
	for i := range 10 {
		require.NoError(t, l.Append(c, ns1, []eventlog.Entry{entry("", eventlog.AnyVersion, fmt.Sprint(i))})[0].Err)
		require.NoError(t, l.Append(c, ns2, []eventlog.Entry{entry("", eventlog.AnyVersion, "x")})[0].Err)
	}
	recs, next, err := l.Read(c, eventlog.Query{Namespace: ns1, Limit: 4})
	require.NoError(t, err)
	require.Len(t, recs, 4)
	require.Equal(t, recs[3].Position, next)
	all := recs
	for {
		recs, next, err = l.Read(c, eventlog.Query{Namespace: ns1, After: next, Limit: 4})
		require.NoError(t, err)
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
	}
	require.Len(t, all, 10)
	for i, r := range all {
		require.Equal(t, ns1, r.Namespace)
		require.Equal(t, fmt.Sprint(i), string(r.Data))
	}
	recs, _, err = l.Read(c, eventlog.Query{Namespace: ns1, Since: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, recs)
	recs, _, err = l.Read(c, eventlog.Query{Namespace: ns1, Since: all[0].RecordedAt.Add(-time.Second)})
	require.NoError(t, err)
	require.Len(t, recs, 10)
}

func subscribe(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("sub")
	var first uint64
	for i := range 5 {
		r := l.Append(c, ns, []eventlog.Entry{entry("s", eventlog.AnyVersion, fmt.Sprint(i))})[0]
		require.NoError(t, r.Err)
		if i == 0 {
			first = r.Position
		}
	}
	sub, err := l.Subscribe(c, eventlog.Query{Namespace: ns, After: first})
	require.NoError(t, err)
	defer sub.Stop()
	go func() {
		for i := 5; i < 10; i++ {
			l.Append(c, ns, []eventlog.Entry{entry("s", eventlog.AnyVersion, fmt.Sprint(i))})
		}
	}()
	for i := 1; i < 10; i++ {
		r, err := sub.Next(c)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(r.Data), "history then live, in order, no gap")
		require.Equal(t, uint64(i+1), r.Version)
	}
}
