package eventlog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/eventlog"
	"github.com/ensue-dev/ensue/internal/eventlog/logtest"
)

func TestEmbeddedConformance(t *testing.T) {
	t.Parallel()
	srv, err := eventlog.StartEmbedded(eventlog.EmbeddedConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	l, err := eventlog.Open(context.Background(), nc, eventlog.Config{})
	require.NoError(t, err)
	logtest.Exercise(t, logtest.Harness{Open: func(t *testing.T) eventlog.Log { return l }})
}
