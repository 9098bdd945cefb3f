package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/server"
	"github.com/ensue-dev/ensue/internal/servertest"
)

// TestFlowsSurviveRestartAndRebuild stops a server, deletes the runtime's
// derived store, and starts again on the same data: the flows are back
// (they are events in the log), finished runs are not run again, and new
// events trigger runs.
func TestFlowsSurviveRestartAndRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := newSink(t, nil)
	start := func() (*servertest.Server, client) {
		s := servertest.StartWith(t, servertest.Options{Config: server.Config{DataDir: dir}})
		return s, client{t: t, base: s.URL}
	}
	s1, c := start()
	c.json("PUT", "/v1/flows/keep", fmt.Sprintf(`
name: keep
on: {type: keep.go}
steps:
  - id: call
    http: {url: %s}
`, target.URL), 201, nil)
	p1 := c.emit(map[string]any{"id": "1", "source": "/t", "type": "keep.go"})
	c.waitRun(fmt.Sprintf("keep-%d", p1), finished)
	c.json("POST", "/v1/flows/keep/disable", nil, 200, nil)
	pOff := c.emit(map[string]any{"id": "off", "source": "/t", "type": "keep.go"})
	c.json("POST", "/v1/flows/keep/enable", nil, 200, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s1.Server.Stop(ctx))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "runtime")))

	_, c = start()
	var f struct {
		Version uint64 `json:"version"`
		Enabled bool   `json:"enabled"`
	}
	c.json("GET", "/v1/flows/keep", nil, 200, &f)
	require.Equal(t, uint64(1), f.Version)
	require.True(t, f.Enabled)
	r := c.waitRun(fmt.Sprintf("keep-%d", p1), finished)
	require.Equal(t, "completed", r.Status)
	status, _ := c.do("GET", fmt.Sprintf("/v1/runs/keep-%d", pOff), "", nil)
	require.Equal(t, 404, status, "an event appended while the flow was disabled never triggers it")
	p2 := c.emit(map[string]any{"id": "2", "source": "/t", "type": "keep.go"})
	c.waitRun(fmt.Sprintf("keep-%d", p2), finished)
	require.Len(t, target.got(), 2, "the first run was not run again")
}
