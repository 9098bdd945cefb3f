package bench

import (
	"bytes"
	"context"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunProjectionsSmoke(t *testing.T) {
	t.Parallel()
	var out, progress bytes.Buffer
	cfg := ProjectionsConfig{
		Events:        2000,
		Orders:        100,
		RebuildEvents: 5000,
		Queries:       200,
		LoadConfig:    LoadConfig{CeilingEvents: 2000, Settle: 50 * time.Millisecond, Progress: &progress},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := RunProjections(ctx, cfg, &out)
	t.Logf("progress:\n%s", progress.String())
	require.NoError(t, err)
	report := out.String()
	t.Logf("report:\n%s", report)
	for _, row := range []string{"(a)  ceiling", "apply: projection applied, events/s", "lag at the end of ingest",
		"get document: p99 ms", "query status == shipped, limit 100: p50 ms", "rebuild: log positions read        ",
		"rebuild: events/s", "ratio apply / a (median of paired): ", "ratio rebuild / a"} {
		require.Contains(t, report, row)
	}
	require.Contains(t, progress.String(), "appending 3,000 more orders first")
	require.Contains(t, report, "rebuild: log positions read                                        5,000")
	require.NotContains(t, report, " n/a")
}

func TestProjectionsConfig(t *testing.T) {
	t.Parallel()
	var cfg ProjectionsConfig
	fs := flag.NewFlagSet("projections", flag.ContinueOnError)
	cfg.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--events", "5000", "--rebuild-events", "-1", "--queries", "10"}))
	cfg.setDefaults()
	require.NoError(t, cfg.validate())
	require.Equal(t, 5000, cfg.Events)
	require.Equal(t, -1, cfg.RebuildEvents)
	require.Equal(t, 10, cfg.Queries)
	require.Equal(t, 10_000, cfg.Orders)

	for _, tt := range []struct {
		cfg  ProjectionsConfig
		want string
	}{
		{ProjectionsConfig{Queries: -1}, "queries must be at least 1"},
		{ProjectionsConfig{LoadConfig: LoadConfig{PayloadBytes: 100}}, "payload bytes must be at least"},
		{ProjectionsConfig{LoadConfig: LoadConfig{BatchSize: 5000}}, "batch size must be between 1 and 1000"},
		{ProjectionsConfig{LoadConfig: LoadConfig{Namespace: "a-namespace-much-too-long-for-the-suffix-the-bench-adds-xx"}}, "is too long"},
	} {
		tt.cfg.setDefaults()
		require.ErrorContains(t, tt.cfg.validate(), tt.want)
	}
}
