package index_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/eventlog/logtest"
	"github.com/ensue-dev/ensue/internal/index"
)

// openLog starts an embedded log that stops with the test.
func openLog(t *testing.T) *eventlog.JetStream {
	t.Helper()
	return logtest.Open(t, logtest.StartEmbedded(t), eventlog.Config{})
}

func event(id, corr string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/t","type":"t","correlationid":%q}`, id, corr)
}

// The write-through indexer applies what it is offered, reads from the log
// the positions it was not offered (a gap, or events another writer
// appended while nothing was offered), and ignores offers it has applied.
func TestWriteThroughIndexerFillsWhatItWasNotOffered(t *testing.T) {
	t.Parallel()
	l := openLog(t)
	ix := open(t, t.TempDir())
	defer ix.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Appended before the indexer starts: caught up from the log.
	res := l.Append(ctx, "ns", []eventlog.Entry{{Stream: "s", Expected: eventlog.AnyVersion, Data: event("0", "")}})
	require.NoError(t, res[0].Err)

	in := index.NewIndexer(ix, l, nil)
	in.WriteThrough = true
	require.NoError(t, in.Start(ctx))
	defer func() { require.NoError(t, in.Stop(context.Background())) }()
	require.NoError(t, ix.WaitApplied(ctx, res[0].Position))

	// Five appends; all offered but the second: a gap the log fills.
	var entries []eventlog.Entry
	for i := 1; i <= 5; i++ {
		entries = append(entries, eventlog.Entry{Stream: "s", Expected: eventlog.AnyVersion, Data: event(fmt.Sprint(i), "0")})
	}
	res = l.Append(ctx, "ns", entries)
	var offered []index.Applied
	for i, r := range res {
		require.NoError(t, r.Err)
		if i == 1 {
			continue
		}
		offered = append(offered, index.Applied{Position: r.Position, Namespace: "ns", Stream: "s", Version: r.Version, Source: "/t", ID: fmt.Sprint(i + 1), CorrelationID: "0"})
	}
	ix.Offer(offered)
	require.NoError(t, ix.WaitApplied(ctx, res[4].Position))

	// Another writer's events, never offered: found while idle.
	res2 := l.Append(ctx, "ns", []eventlog.Entry{{Stream: "s", Expected: eventlog.AnyVersion, Data: event("6", "0")}})
	require.NoError(t, res2[0].Err)
	require.NoError(t, ix.WaitApplied(ctx, res2[0].Position))
	// A late offer of an applied position changes nothing.
	ix.Offer([]index.Applied{{Position: res2[0].Position, Namespace: "ns", Source: "/t", ID: "other"}})

	for i := 0; i <= 6; i++ {
		e, err := ix.LookupIdentity("ns", "/t", fmt.Sprint(i))
		require.NoError(t, err, "event %d", i)
		require.Equal(t, uint64(i+1), e.Version)
	}
	_, err := ix.LookupIdentity("ns", "/t", "other")
	require.ErrorIs(t, err, index.ErrNotFound)
	corr, err := ix.Correlation("ns", "0", 0, 100)
	require.NoError(t, err)
	require.Len(t, corr, 7, "the root and its six correlated events")
	v, err := ix.StreamHead("ns", "s")
	require.NoError(t, err)
	require.Equal(t, uint64(7), v)
}
