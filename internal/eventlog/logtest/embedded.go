package logtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
)

// StartEmbedded starts an embedded JetStream server in a temporary
// directory; it stops with the test.
func StartEmbedded(t testing.TB) *eventlog.Embedded {
	t.Helper()
	srv, err := eventlog.StartEmbedded(eventlog.EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return srv
}

// Open opens a log with cfg on its own connection to srv.
func Open(t testing.TB, srv *eventlog.Embedded, cfg eventlog.Config) *eventlog.JetStream {
	t.Helper()
	nc, err := srv.Connect("test")
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	l, err := eventlog.Open(context.Background(), nc, cfg)
	require.NoError(t, err)
	return l
}
