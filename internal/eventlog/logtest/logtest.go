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
	t.Run("ReadYourWrites", func(t *testing.T) { t.Parallel(); readYourWrites(t, h) })
	t.Run("LargeBatch", func(t *testing.T) { t.Parallel(); largeBatch(t, h) })
	t.Run("LargeAtomicBatch", func(t *testing.T) { t.Parallel(); largeAtomicBatch(t, h) })
	t.Run("ConcurrentAnyVersion", func(t *testing.T) { t.Parallel(); concurrentAnyVersion(t, h) })
	t.Run("ReadStreamFilter", func(t *testing.T) { t.Parallel(); readStreamFilter(t, h) })
	t.Run("SubscribeFromEnd", func(t *testing.T) { t.Parallel(); subscribeFromEnd(t, h) })
	t.Run("WholeLog", func(t *testing.T) { t.Parallel(); wholeLog(t, h) })
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

// readYourWrites checks that every kind of read reflects an append as soon
// as it is acknowledged. On a cluster the latest writes may not have reached
// every replica yet when the ack comes back; a read answered by such a
// replica must not miss them. Each round appends, then does one kind of
// read first, so that each kind meets a just-acknowledged write many times.
func readYourWrites(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("ryw")
	const rounds = 250
	var prev uint64
	for i := range rounds {
		data := fmt.Sprintf(`{"i":%d}`, i)
		r := l.Append(c, ns, []eventlog.Entry{entry("ryw", eventlog.AnyVersion, data)})[0]
		require.NoError(t, r.Err)
		v := uint64(i + 1)
		require.Equal(t, v, r.Version)
		switch i % 6 {
		case 0:
			rec, err := l.Get(c, r.Position)
			require.NoError(t, err, "round %d: Get of an acknowledged position", i)
			require.Equal(t, data, string(rec.Data))
		case 1:
			got, pos, err := l.StreamVersion(c, ns, "ryw")
			require.NoError(t, err)
			require.Equal(t, v, got, "round %d: StreamVersion", i)
			require.Equal(t, r.Position, pos)
		case 2:
			recs, cur, err := l.ReadStream(c, ns, "ryw", v, 10, false)
			require.NoError(t, err)
			require.Equal(t, v, cur, "round %d: ReadStream current version", i)
			require.Equal(t, []uint64{v}, versions(recs), "round %d: ReadStream forward from the new version", i)
		case 3:
			recs, _, err := l.ReadStream(c, ns, "ryw", 0, 2, true)
			require.NoError(t, err)
			require.NotEmpty(t, recs, "round %d: ReadStream backward", i)
			require.Equal(t, v, recs[0].Version, "round %d: ReadStream backward starts at the new version", i)
		case 4:
			recs, next, err := l.Read(c, eventlog.Query{Namespace: ns, After: prev})
			require.NoError(t, err)
			require.Len(t, recs, 1, "round %d: Read of the namespace after the previous append", i)
			require.Equal(t, r.Position, recs[0].Position)
			require.Equal(t, r.Position, next)
		case 5:
			recs, _, err := l.Read(c, eventlog.Query{Namespace: ns, Stream: "ryw", After: prev, Limit: 5})
			require.NoError(t, err)
			require.Len(t, recs, 1, "round %d: Read of the stream after the previous append", i)
			require.Equal(t, data, string(recs[0].Data))
		}
		prev = r.Position
	}
	recs, cur, err := l.ReadStream(c, ns, "ryw", 1, rounds, false)
	require.NoError(t, err)
	require.Equal(t, uint64(rounds), cur)
	require.Len(t, recs, rounds)
}

// largeBatch appends 1000 entries in one call: 10 streams interleaved, then
// 1000 entries of one stream, and reads them all back.
func largeBatch(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("big")
	const n, streams = 1000, 10
	es := make([]eventlog.Entry, n)
	for i := range es {
		es[i] = entry(fmt.Sprintf("s%d", i%streams), eventlog.AnyVersion, fmt.Sprintf(`{"i":%d}`, i))
	}
	res := l.Append(c, ns, es)
	require.Len(t, res, n)
	var prev uint64
	for i, r := range res {
		require.NoError(t, r.Err, "entry %d", i)
		require.Equal(t, uint64(i/streams+1), r.Version, "entry %d", i)
		require.Greater(t, r.Position, prev, "entry %d: positions follow input order", i)
		prev = r.Position
	}
	for s := range streams {
		recs, cur, err := l.ReadStream(c, ns, fmt.Sprintf("s%d", s), 1, n, false)
		require.NoError(t, err)
		require.Equal(t, uint64(n/streams), cur)
		require.Len(t, recs, n/streams)
		for k, r := range recs {
			require.Equal(t, uint64(k+1), r.Version)
			require.Equal(t, fmt.Sprintf(`{"i":%d}`, k*streams+s), string(r.Data))
		}
	}

	for i := range es {
		es[i] = entry("one", eventlog.AnyVersion, fmt.Sprintf(`{"j":%d}`, i))
	}
	es[0].Expected = 0
	res = l.Append(c, ns, es)
	for i, r := range res {
		require.NoError(t, r.Err, "entry %d", i)
		require.Equal(t, uint64(i+1), r.Version)
	}
	var all []eventlog.Record
	var after uint64
	for {
		recs, next, err := l.Read(c, eventlog.Query{Namespace: ns, After: after, Limit: 1000})
		require.NoError(t, err)
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
		after = next
	}
	require.Len(t, all, 2*n)
	for i, r := range all[n:] {
		require.Equal(t, "one", r.Stream)
		require.Equal(t, uint64(i+1), r.Version)
		require.Equal(t, res[i].Position, r.Position)
	}
}

// largeAtomicBatch stores 1000 entries, JetStream's largest atomic batch, at once.
func largeAtomicBatch(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("bigatomic")
	const n = 1000
	es := make([]eventlog.Entry, n)
	for i := range es {
		es[i] = entry(fmt.Sprintf("s%d", i%4), eventlog.AnyVersion, fmt.Sprintf(`{"i":%d}`, i))
	}
	es[0].Expected, es[1].Expected = 0, 0
	res, err := l.AppendAtomic(c, ns, es)
	require.NoError(t, err)
	require.Len(t, res, n)
	for i, r := range res {
		require.Equal(t, uint64(i/4+1), r.Version, "entry %d", i)
		if i > 0 {
			require.Equal(t, res[i-1].Position+1, r.Position, "an atomic batch is contiguous")
		}
	}
	recs, cur, err := l.ReadStream(c, ns, "s3", 1, n, false)
	require.NoError(t, err)
	require.Equal(t, uint64(n/4), cur)
	require.Len(t, recs, n/4)
	require.Equal(t, res[n-1].Position, recs[len(recs)-1].Position)
}

// concurrentAnyVersion has many goroutines append to one stream without
// stating a version: none fails, and the versions are dense.
func concurrentAnyVersion(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("any")
	const writers, each = 8, 25
	var wg sync.WaitGroup
	results := make(chan eventlog.Result, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := l.Append(c, ns, []eventlog.Entry{entry("hot", eventlog.AnyVersion, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))})[0]
				if r.Err != nil {
					t.Errorf("writer %d append %d: %v", w, i, r.Err)
				}
				results <- r
			}
		}()
	}
	wg.Wait()
	close(results)
	seen := make(map[uint64]bool)
	for r := range results {
		require.False(t, seen[r.Version], "version %d given twice", r.Version)
		seen[r.Version] = true
	}
	recs, cur, err := l.ReadStream(c, ns, "hot", 1, writers*each, false)
	require.NoError(t, err)
	require.Equal(t, uint64(writers*each), cur)
	require.Len(t, recs, writers*each)
	for i, r := range recs {
		require.Equal(t, uint64(i+1), r.Version)
	}
}

// readStreamFilter reads one stream's records through Read, paging with
// After and filtering by time.
func readStreamFilter(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("rsf")
	for i := range 12 {
		res := l.Append(c, ns, []eventlog.Entry{
			entry("a", eventlog.AnyVersion, fmt.Sprint(i)),
			entry("b", eventlog.AnyVersion, "b"),
			entry("", eventlog.AnyVersion, "none"),
		})
		for _, r := range res {
			require.NoError(t, r.Err)
		}
	}
	var all []eventlog.Record
	var after uint64
	for {
		recs, next, err := l.Read(c, eventlog.Query{Namespace: ns, Stream: "a", After: after, Limit: 5})
		require.NoError(t, err)
		require.LessOrEqual(t, len(recs), 5)
		if len(recs) == 0 {
			require.Equal(t, after, next, "an empty page examined nothing new")
			break
		}
		all = append(all, recs...)
		after = next
	}
	require.Len(t, all, 12)
	for i, r := range all {
		require.Equal(t, "a", r.Stream)
		require.Equal(t, ns, r.Namespace)
		require.Equal(t, uint64(i+1), r.Version)
		require.Equal(t, fmt.Sprint(i), string(r.Data))
	}
	recs, _, err := l.Read(c, eventlog.Query{Namespace: ns, Stream: "a", Since: all[0].RecordedAt.Add(-time.Second)})
	require.NoError(t, err)
	require.Len(t, recs, 12)
	recs, _, err = l.Read(c, eventlog.Query{Namespace: ns, Stream: "missing"})
	require.NoError(t, err)
	require.Empty(t, recs)
}

// subscribeFromEnd subscribes after the end of the log, then receives live
// appends only, filtered by namespace and by stream.
func subscribeFromEnd(t *testing.T, h Harness) {
	l, c, ns := h.Open(t), ctx(t), Namespace("subend")
	require.NoError(t, l.Append(c, ns, []eventlog.Entry{entry("s", eventlog.AnyVersion, "old")})[0].Err)
	last, err := l.LastPosition(c)
	require.NoError(t, err)
	all, err := l.Subscribe(c, eventlog.Query{Namespace: ns, After: last})
	require.NoError(t, err)
	defer all.Stop()
	one, err := l.Subscribe(c, eventlog.Query{Namespace: ns, Stream: "s", After: last})
	require.NoError(t, err)
	defer one.Stop()
	other := Namespace("subend-other")
	var want []eventlog.Result
	for i := range 6 {
		require.NoError(t, l.Append(c, other, []eventlog.Entry{entry("s", eventlog.AnyVersion, "elsewhere")})[0].Err)
		stream := "s"
		if i%2 == 1 {
			stream = "t"
		}
		r := l.Append(c, ns, []eventlog.Entry{entry(stream, eventlog.AnyVersion, fmt.Sprint(i))})[0]
		require.NoError(t, r.Err)
		want = append(want, r)
	}
	for i, w := range want {
		r, err := all.Next(c)
		require.NoError(t, err)
		require.Equal(t, w.Position, r.Position, "record %d of the namespace", i)
		require.Equal(t, fmt.Sprint(i), string(r.Data))
	}
	for i := 0; i < len(want); i += 2 {
		r, err := one.Next(c)
		require.NoError(t, err)
		require.Equal(t, want[i].Position, r.Position)
		require.Equal(t, "s", r.Stream)
	}
	short, cancel := context.WithTimeout(c, 50*time.Millisecond)
	defer cancel()
	_, err = one.Next(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "nothing more for stream s")
	all.Stop()
	all.Stop()
}

// wholeLog reads and subscribes with no namespace: every namespace's
// records, in log order. Other tests append to the same log meanwhile, so
// it checks only that its own records come back where they were stored.
func wholeLog(t *testing.T, h Harness) {
	l, c := h.Open(t), ctx(t)
	ns1, ns2 := Namespace("whole"), Namespace("whole")
	r1 := l.Append(c, ns1, []eventlog.Entry{entry("s", eventlog.AnyVersion, "1")})[0]
	require.NoError(t, r1.Err)
	r2 := l.Append(c, ns2, []eventlog.Entry{entry("", eventlog.AnyVersion, "2")})[0]
	require.NoError(t, r2.Err)

	recs, next, err := l.Read(c, eventlog.Query{After: r1.Position - 1, Limit: 1})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, r1.Position, next)
	require.Equal(t, ns1, recs[0].Namespace)
	require.Equal(t, "s", recs[0].Stream)
	recs, _, err = l.Read(c, eventlog.Query{After: r2.Position - 1, Limit: 1})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, ns2, recs[0].Namespace)
	require.Equal(t, "2", string(recs[0].Data))

	sub, err := l.Subscribe(c, eventlog.Query{After: r1.Position - 1})
	require.NoError(t, err)
	defer sub.Stop()
	var seen []eventlog.Record
	for len(seen) == 0 || seen[len(seen)-1].Position < r2.Position {
		r, err := sub.Next(c)
		require.NoError(t, err)
		seen = append(seen, r)
	}
	require.Equal(t, r1.Position, seen[0].Position)
	require.Equal(t, ns2, seen[len(seen)-1].Namespace)
}
