package eventlog

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// A probe tells the publishes JetStream stored (answered as duplicates,
// with their positions) from those it did not, and stores nothing.
func TestProbeTellsStoredFromNot(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	res := l.Append(ctx, "ns", []Entry{
		{Stream: "s", Expected: AnyVersion, Data: []byte(`1`)},
		{Stream: "s", Expected: AnyVersion, Data: []byte(`2`)},
	})
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	id := func(n uint64) string { return l.ch.idPrefix + strconv.FormatUint(n, 36) }
	subject := l.subj.stream("ns", "s")
	pubs := []prepared{
		{subject: subject, data: []byte(`1`), id: id(1)},
		{subject: subject, data: []byte(`x`), id: id(1000)}, // never published
		{subject: subject, data: []byte(`2`), id: id(2)},
	}
	out := l.probe(ctx, pubs)
	require.Equal(t, probeOutcome{pos: res[0].Position}, out[0])
	require.Equal(t, probeOutcome{pos: res[1].Position}, out[2])
	require.Error(t, out[1].err)
	require.False(t, out[1].unknown)
	again, unknown := settle(out[1], pubs[1], make([]Result, 1))
	require.True(t, again, "a publish found not stored is sent again")
	require.False(t, unknown)

	last, err := l.LastPosition(ctx)
	require.NoError(t, err)
	require.Equal(t, res[1].Position, last, "the probes stored nothing")
}

// JetStream's refusal of a wrong expected last sequence names the log's
// last position, which the sole writer reads.
func TestWrongLastSequenceIsRead(t *testing.T) {
	t.Parallel()
	l := openTestLog(t, Config{SoleWriter: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		require.NoError(t, l.Append(ctx, "ns", []Entry{{Expected: AnyVersion, Data: []byte(`1`)}})[0].Err)
	}
	m := &nats.Msg{Subject: l.subj.stream("ns", ""), Data: []byte(`x`), Header: nats.Header{hdrExpectedLastSeq: {"1"}}}
	_, err := l.js.PublishMsg(ctx, m)
	require.Error(t, err)
	last, ok := wrongLastSequence(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, uint64(3), last)
	_, ok = wrongLastSequence(errors.New("something else"))
	require.False(t, ok)
}

// openTestLog opens a log with cfg on a fresh embedded server.
func openTestLog(t *testing.T, cfg Config) *JetStream {
	t.Helper()
	srv, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	l, err := Open(context.Background(), nc, cfg)
	require.NoError(t, err)
	return l
}
