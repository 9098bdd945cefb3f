package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/schema"
)

func TestRunIngestSmoke(t *testing.T) {
	t.Parallel()
	var out, progress bytes.Buffer
	cfg := IngestConfig{
		Repetitions:  1,
		Events:       3000,
		SingleEvents: 1000,
		Streams:      500,
		RSSEvents:    10_000,
		Settle:       50 * time.Millisecond,
		Progress:     &progress,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := RunIngest(ctx, cfg, &out)
	t.Logf("progress:\n%s", progress.String())
	require.NoError(t, err)
	report := out.String()
	t.Logf("report:\n%s", report)
	require.Contains(t, report, "ratio b/a (median of paired): ")
	require.Contains(t, report, "ratio b'/a")
	require.Contains(t, report, "ratio c/a")
	require.Contains(t, report, "ratio s/s0 (median of paired): ")
	require.Contains(t, report, "ratio s/a")
	require.Contains(t, report, "RSS after 10,000 events")
	for _, row := range []string{"(a)", "(b)", "(b')", "(c)  HTTP single", "p50", "p99", "read global log", "read one stream", "(b)  CPU per event, µs", "CPU per event of (b) over (a)'s",
		"(s0) as (b), orders", "(s)  as (b), orders, schema enforced", "(s)  CPU per event, µs", "CPU per event of (s) over (s0)'s"} {
		require.Contains(t, report, row)
	}
	// Every read phase read everything it asked for.
	require.Contains(t, progress.String(), "read global log: ")
	require.Contains(t, progress.String(), "(3,000 events)")
	require.Contains(t, progress.String(), "an invalid order was refused")
	require.NotContains(t, report, " n/a ")
}

func TestIngestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  IngestConfig
		want string // "" when valid
	}{
		{"defaults", IngestConfig{}, ""},
		{"batch over the limit", IngestConfig{BatchSize: 1001}, "batch size must be between 1 and 1000"},
		{"negative clients", IngestConfig{Clients: -1}, "clients must be at least 1"},
		{"tiny payload", IngestConfig{PayloadBytes: 10}, "payload bytes must be between"},
		{"bad namespace", IngestConfig{Namespace: "Bench"}, "namespace \"Bench\""},
		{"bad server URL", IngestConfig{ServerURL: "localhost:7600"}, "is not an http(s) base URL"},
		{"page over the limit", IngestConfig{ReadPageSize: 5000}, "read page size"},
		{"negative settle", IngestConfig{Settle: -time.Second}, "settle must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.setDefaults()
			err := cfg.validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestEventsAreValidUniqueAndSized(t *testing.T) {
	t.Parallel()
	cfg := IngestConfig{Streams: 10_000}
	cfg.setDefaults()
	g := newGenerator(&cfg)
	w := g.batches("b1", 250, 100, g.picker().next)
	require.Equal(t, []int{100, 100, 50}, w.counts)
	ids := map[string]bool{}
	for _, body := range w.bodies {
		var evs []map[string]any
		require.NoError(t, json.Unmarshal(body, &evs))
		for _, ev := range evs {
			one, err := json.Marshal(ev)
			require.NoError(t, err)
			// Re-encoding sorts keys but keeps the size.
			require.Len(t, one, cfg.PayloadBytes)
			require.Equal(t, "1.0", ev["specversion"])
			require.Equal(t, benchSource, ev["source"])
			require.Equal(t, benchType, ev["type"])
			require.True(t, strings.HasPrefix(ev["subject"].(string), "bench-"))
			id := ev["id"].(string)
			require.False(t, ids[id], "duplicate id %s", id)
			ids[id] = true
		}
	}
	// The generated workload of the RSS run makes the same events.
	gw := &generated{g: g, tag: "rss", n: 150, size: 100}
	var scratch []byte
	body, n := gw.body(1, &scratch)
	require.Equal(t, 50, n)
	var evs []map[string]any
	require.NoError(t, json.Unmarshal(body, &evs))
	require.Len(t, evs, 50)
	require.Equal(t, g.runID+"-rss-100", evs[0]["id"])
}

func TestStats(t *testing.T) {
	t.Parallel()
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	p50, p99 := percentiles(ds)
	require.Equal(t, 50*time.Millisecond, p50)
	require.Equal(t, 99*time.Millisecond, p99)
	require.Equal(t, "1,234,567", thousands(1234567.4))
	require.Equal(t, "999", thousands(999))
	require.Equal(t, "-1,000", thousands(-1000))
}

// The benchmarks below measure one phase each, one event per op, and
// report events/s; run them with a fixed count of events, e.g.
//
//	go test ./internal/bench -run '^$' -bench . -benchtime 200000x -cpuprofile cpu.out
//
// Each starts its own server in this process (the server and the client
// share the profile).

func benchConfig() IngestConfig {
	cfg := IngestConfig{}
	cfg.setDefaults()
	return cfg
}

func BenchmarkCeilingPublishAsync(b *testing.B) {
	cfg := benchConfig()
	ctx := context.Background()
	c, err := startCeiling(ctx, b.TempDir(), cfg.CeilingMaxPending)
	require.NoError(b, err)
	defer c.close()
	g := newGenerator(&cfg)
	w := g.singles("a", b.N, g.picker().next)
	b.ResetTimer()
	res, err := c.publish(ctx, w)
	b.StopTimer()
	require.NoError(b, err)
	b.ReportMetric(res.rate(), "events/s")
}

func benchAppend(b *testing.B, contentType string, clients int, build func(g *generator, n int) *workload) {
	cfg := benchConfig()
	ctx := context.Background()
	tgt, err := startInProcess(ctx, b.TempDir(), cfg.Namespace, clients)
	require.NoError(b, err)
	defer func() { require.NoError(b, tgt.stop()) }()
	g := newGenerator(&cfg)
	w := build(g, b.N)
	b.ResetTimer()
	res, err := tgt.cl.appendAll(ctx, b.Name(), contentType, w, clients, nil)
	b.StopTimer()
	require.NoError(b, err)
	b.ReportMetric(res.rate(), "events/s")
	p50, p99 := percentiles(res.latency)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

func BenchmarkIngestBatch100(b *testing.B) {
	benchAppend(b, ctBatch, 8, func(g *generator, n int) *workload { return g.batches("b", n, 100, g.picker().next) })
}

func BenchmarkIngestBatch100OneStream(b *testing.B) {
	benchAppend(b, ctBatch, 8, func(g *generator, n int) *workload {
		return g.batches("o", n, 100, func() string { return "bench-one" })
	})
}

func BenchmarkIngestSingle(b *testing.B) {
	benchAppend(b, ctSingle, 16, func(g *generator, n int) *workload { return g.singles("c", n, g.picker().next) })
}

func TestAddFlags(t *testing.T) {
	t.Parallel()
	var cfg IngestConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--rss-events", "200000", "--server", "http://127.0.0.1:7600", "--settle", "2s", "--repetitions=5"}))
	require.Equal(t, 200_000, cfg.RSSEvents)
	require.Equal(t, "http://127.0.0.1:7600", cfg.ServerURL)
	require.Equal(t, 2*time.Second, cfg.Settle)
	require.Equal(t, 5, cfg.Repetitions)
	cfg.setDefaults()
	require.Equal(t, 200_000, cfg.Events)
	require.NoError(t, cfg.validate())
}

// serveArg makes this test binary an Ensue server (for ServerCommand).
const serveArg = "ensue-bench-serve"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == serveArg {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := Serve(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

func TestRunIngestSmokeChildServer(t *testing.T) {
	t.Parallel()
	var out, progress bytes.Buffer
	cfg := IngestConfig{
		Repetitions:    1,
		Events:         2000,
		SingleEvents:   500,
		Streams:        200,
		RSSEvents:      5000,
		NoSchemaPhases: true,
		Settle:         50 * time.Millisecond,
		ServerCommand:  []string{os.Args[0], serveArg},
		Progress:       &progress,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := RunIngest(ctx, cfg, &out)
	t.Logf("progress:\n%s", progress.String())
	require.NoError(t, err)
	report := out.String()
	t.Logf("report:\n%s", report)
	require.Contains(t, report, "ratio b/a (median of paired): ")
	require.Contains(t, report, "VmRSS of the server's own process")
	require.NotContains(t, report, "(s0)")
}

// The orders of the schema phases are valid under the schema the bench
// registers (a 422 would fail the bench), unique, and of the configured
// size, down to the smallest size allowed.
func TestOrdersAreValidAndSized(t *testing.T) {
	t.Parallel()
	def := IngestConfig{}
	def.setDefaults()
	smallest := minPayloadBytes(&def)
	require.LessOrEqual(t, smallest, def.PayloadBytes, "the default payload must hold an order")
	for _, size := range []int{smallest, def.PayloadBytes, 4096} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			cfg := IngestConfig{PayloadBytes: size}
			cfg.setDefaults()
			require.NoError(t, cfg.validate())
			s, err := schema.Compile(orderSchema(cfg.PayloadBytes))
			require.NoError(t, err)
			g := newGenerator(&cfg)
			w := g.orders("s1", 2000, 100, g.picker().next)
			ids := map[string]bool{}
			items := map[int]int{}
			for _, body := range w.bodies {
				var evs []json.RawMessage
				require.NoError(t, json.Unmarshal(body, &evs))
				for _, raw := range evs {
					require.Len(t, raw, size)
					var ev struct {
						ID, Type string
						Data     json.RawMessage
					}
					require.NoError(t, json.Unmarshal(raw, &ev))
					require.Equal(t, orderType, ev.Type)
					require.False(t, ids[ev.ID], "duplicate id %s", ev.ID)
					ids[ev.ID] = true
					vs, err := s.Validate(ev.Data)
					require.NoError(t, err)
					require.Empty(t, vs, "%s", ev.Data)
					var o struct{ Items []any }
					require.NoError(t, json.Unmarshal(ev.Data, &o))
					items[len(o.Items)]++
				}
			}
			require.Len(t, ids, 2000)
			require.Len(t, items, orderMaxItems, "orders of every item count")
			// The largest order fits the smallest size.
			big := g.appendOrder(nil, "s1", 1999, g.streams[len(g.streams)-1], largestOrder(g.placedBy), size)
			require.Len(t, big, size)
		})
	}
	cfg := IngestConfig{NoSchemaPhases: true}
	cfg.setDefaults()
	require.Less(t, minPayloadBytes(&cfg), smallest, "without the schema phases, (b)'s events set the smallest size")
}
