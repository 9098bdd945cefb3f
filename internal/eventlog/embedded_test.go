package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/eventlog/logtest"
)

// openEmbedded opens a log on a fresh embedded server that stops with the test.
func openEmbedded(t *testing.T) *eventlog.JetStream {
	t.Helper()
	srv, err := eventlog.StartEmbedded(eventlog.EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	l, err := eventlog.Open(context.Background(), nc, eventlog.Config{})
	require.NoError(t, err)
	return l
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
