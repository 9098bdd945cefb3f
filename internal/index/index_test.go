package index_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/index"
)

func open(t *testing.T, dir string) *index.Index {
	t.Helper()
	ix, err := index.Open(index.Config{Dir: dir})
	require.NoError(t, err)
	return ix
}

func TestApplyIsExactlyOnceAndSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ix := open(t, dir)
	recs := []index.Applied{
		{Position: 1, Namespace: "a", Stream: "s", Version: 1, Source: "/x", ID: "1"},
		{Position: 2, Namespace: "a", Source: "/x", ID: "2", CorrelationID: "1"},
		{Position: 3, Namespace: "b", Source: "/x", ID: "1"},
	}
	require.NoError(t, ix.Apply(recs[:2], 2))
	// Applying again, overlapping, changes nothing and moves on.
	require.NoError(t, ix.Apply(recs, 3))
	require.Equal(t, uint64(3), ix.Applied())

	e, err := ix.LookupIdentity("a", "/x", "1")
	require.NoError(t, err)
	require.Equal(t, index.Entry{Position: 1, Stream: "s", Version: 1}, e)
	e, err = ix.LookupIdentity("b", "/x", "1")
	require.NoError(t, err)
	require.Equal(t, uint64(3), e.Position, "namespaces are separate")
	_, err = ix.LookupIdentity("a", "/x", "3")
	require.ErrorIs(t, err, index.ErrNotFound)

	corr, err := ix.Correlation("a", "1", 0, 10)
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2}, corr, "the root (id 1, no correlationid) and its correlated event")
	corr, err = ix.Correlation("a", "1", 1, 10)
	require.NoError(t, err)
	require.Equal(t, []uint64{2}, corr)

	require.NoError(t, ix.Close())
	ix = open(t, dir)
	defer ix.Close()
	require.Equal(t, uint64(3), ix.Applied(), "the checkpoint is stored with the data")
	_, err = ix.LookupIdentity("a", "/x", "2")
	require.NoError(t, err)
}

func TestRememberBridgesTheGapUntilApplied(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	defer ix.Close()
	ix.Remember("a", []index.Identity{{Source: "/x", ID: "9"}}, []index.Entry{{Position: 5, Stream: "s", Version: 2}})
	e, err := ix.LookupIdentity("a", "/x", "9")
	require.NoError(t, err)
	require.Equal(t, uint64(5), e.Position)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, ix.WaitApplied(ctx, 5), context.DeadlineExceeded)

	done := make(chan error, 1)
	go func() { done <- ix.WaitApplied(context.Background(), 5) }()
	require.NoError(t, ix.Apply([]index.Applied{{Position: 5, Namespace: "a", Stream: "s", Version: 2, Source: "/x", ID: "9"}}, 5))
	require.NoError(t, <-done)
	e, err = ix.LookupIdentity("a", "/x", "9")
	require.NoError(t, err, "after eviction from memory the entry comes from the store")
	require.Equal(t, index.Entry{Position: 5, Stream: "s", Version: 2}, e)
}

// TestKeysDoNotCollide feeds identities whose parts contain separators and
// NUL bytes: length-prefixed keys keep them apart.
func TestKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	ix := open(t, t.TempDir())
	defer ix.Close()
	alphabet := []string{"a", "\x00", ":", "/", "\x01", "ab"}
	word := func() string {
		s := ""
		for range rng.IntN(4) {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		return s
	}
	want := map[[3]string]uint64{}
	var recs []index.Applied
	for pos := uint64(1); pos <= 500; pos++ {
		k := [3]string{"ns", word(), word()}
		if _, ok := want[k]; ok {
			continue
		}
		want[k] = pos
		recs = append(recs, index.Applied{Position: pos, Namespace: k[0], Source: k[1], ID: k[2]})
	}
	require.NoError(t, ix.Apply(recs, 500))
	for k, pos := range want {
		e, err := ix.LookupIdentity(k[0], k[1], k[2])
		require.NoError(t, err, fmt.Sprintf("%q", k))
		require.Equal(t, pos, e.Position, fmt.Sprintf("%q", k))
	}
}

func TestStreamHeadFollowsTheAppliedLog(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	defer ix.Close()
	v, err := ix.StreamHead("a", "s")
	require.NoError(t, err)
	require.Zero(t, v, "a stream with no applied event")
	require.NoError(t, ix.Apply([]index.Applied{
		{Position: 1, Namespace: "a", Stream: "s", Version: 1, Source: "/x", ID: "1"},
		{Position: 2, Namespace: "b", Stream: "s", Version: 1, Source: "/x", ID: "2"},
		{Position: 3, Namespace: "a", Stream: "s", Version: 2, Source: "/x", ID: "3"},
		{Position: 4, Namespace: "a", Source: "/x", ID: "4"},
	}, 4))
	v, err = ix.StreamHead("a", "s")
	require.NoError(t, err)
	require.Equal(t, uint64(2), v)
	v, err = ix.StreamHead("b", "s")
	require.NoError(t, err)
	require.Equal(t, uint64(1), v, "namespaces are separate")
	v, err = ix.StreamHead("a", "s2")
	require.NoError(t, err)
	require.Zero(t, v)
}

// An index written in an older layout (here: without its format stamp) is
// dropped and rebuilt from the log: it starts again from position 0.
func TestIndexOfAnotherFormatIsRebuilt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ix := open(t, dir)
	require.NoError(t, ix.Apply([]index.Applied{{Position: 1, Namespace: "a", Source: "/x", ID: "1"}}, 1))
	require.NoError(t, ix.Close())
	db, err := pebble.Open(dir, &pebble.Options{})
	require.NoError(t, err)
	require.NoError(t, db.Delete([]byte("m/format"), pebble.Sync))
	require.NoError(t, db.Close())

	ix = open(t, dir)
	defer ix.Close()
	require.Zero(t, ix.Applied())
	_, err = ix.LookupIdentity("a", "/x", "1")
	require.ErrorIs(t, err, index.ErrNotFound)
}

// BenchmarkLookupAbsent is dedupe's common case: an identity never seen,
// looked up in an index holding 300,000.
func BenchmarkLookupAbsent(b *testing.B) {
	ix := filledIndex(b)
	b.ResetTimer()
	for i := range b.N {
		if _, err := ix.LookupIdentity("bench", "/bench", fmt.Sprintf("new-%d", i)); err != index.ErrNotFound {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupAbsentBatch is the same, 100 identities per call, as an
// HTTP batch of 100 events looks them up.
func BenchmarkLookupAbsentBatch(b *testing.B) {
	ix := filledIndex(b)
	ids := make([]index.Identity, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(ids) {
		for k := range ids {
			ids[k] = index.Identity{Source: "/bench", ID: fmt.Sprintf("new-%d", i+k)}
		}
		_, found, err := ix.LookupIdentities("bench", ids)
		if err != nil || slices.Contains(found, true) {
			b.Fatal(err, found)
		}
	}
}

// BenchmarkApply applies batches of 2000 events spread over 10,000
// streams, as the indexer does under load, to an index that grows.
func BenchmarkApply(b *testing.B) {
	ix, err := index.Open(index.Config{Dir: b.TempDir()})
	require.NoError(b, err)
	defer ix.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]index.Applied, 0, 2000)
	b.ResetTimer()
	for p := uint64(1); p <= uint64(b.N); p++ {
		batch = append(batch, index.Applied{Position: p, Namespace: "bench", Stream: fmt.Sprintf("s%d", rng.IntN(10000)), Version: p, Source: "/bench", ID: fmt.Sprintf("%x-%d", rng.Uint64(), p)})
		if len(batch) == cap(batch) || p == uint64(b.N) {
			require.NoError(b, ix.Apply(batch, p))
			batch = batch[:0]
		}
	}
}

// filledIndex opens an index holding 300,000 identities, closed with b.
func filledIndex(b *testing.B) *index.Index {
	ix, err := index.Open(index.Config{Dir: b.TempDir()})
	require.NoError(b, err)
	b.Cleanup(func() { ix.Close() })
	const n = 300_000
	batch := make([]index.Applied, 0, 2000)
	for p := uint64(1); p <= n; p++ {
		batch = append(batch, index.Applied{Position: p, Namespace: "bench", Stream: fmt.Sprintf("s%d", p%10000), Version: p / 10000, Source: "/bench", ID: fmt.Sprintf("run-%d", p)})
		if len(batch) == cap(batch) {
			require.NoError(b, ix.Apply(batch, p))
			batch = batch[:0]
		}
	}
	return ix
}
