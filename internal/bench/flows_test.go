package bench

import (
	"bytes"
	"context"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunFlowsSmoke(t *testing.T) {
	t.Parallel()
	var out, progress bytes.Buffer
	cfg := FlowsConfig{
		Rate:       200,
		Duration:   500 * time.Millisecond,
		Events:     200,
		Flows:      10,
		LoadConfig: LoadConfig{CeilingEvents: 2000, Settle: 50 * time.Millisecond, Progress: &progress},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := RunFlows(ctx, cfg, &out)
	t.Logf("progress:\n%s", progress.String())
	require.NoError(t, err)
	report := out.String()
	t.Logf("report:\n%s", report)
	for _, row := range []string{"(a)  ceiling", "p50 ms", "p99 ms", "max ms", "1 flow: ingest events/s", "1 flow: runs completed/s",
		"10 flows: ingest events/s", "10 flows: runs completed/s", "applying 10 flows",
		"ratio ingest with 10 flows / with 1 flow (median of paired): ", "ratio runs/s with 1 flow / a"} {
		require.Contains(t, report, row)
	}
	require.Contains(t, progress.String(), "0 lost, 0 duplicate calls")
	require.NotContains(t, report, " n/a ")
}

func TestFlowsConfig(t *testing.T) {
	t.Parallel()
	var cfg FlowsConfig
	fs := flag.NewFlagSet("flows", flag.ContinueOnError)
	cfg.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--rate", "50", "--duration", "2s", "--flows", "100"}))
	cfg.setDefaults()
	require.NoError(t, cfg.validate())
	require.Equal(t, 50, cfg.Rate)
	require.Equal(t, 2*time.Second, cfg.Duration)
	require.Equal(t, 100, cfg.Flows)
	require.Equal(t, 20_000, cfg.Events)

	for _, tt := range []struct {
		cfg  FlowsConfig
		want string
	}{
		{FlowsConfig{Rate: -1}, "rate must be at least 1"},
		{FlowsConfig{LoadConfig: LoadConfig{BatchSize: 5000}}, "batch size must be between 1 and 1000"},
		{FlowsConfig{LoadConfig: LoadConfig{Namespace: "a-namespace-much-too-long-for-the-suffixes-the-bench-adds-xx"}}, "is too long"},
	} {
		tt.cfg.setDefaults()
		require.ErrorContains(t, tt.cfg.validate(), tt.want)
	}
}
