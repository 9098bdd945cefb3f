package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	appended    *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	requests    *prometheus.HistogramVec
	subscribers prometheus.Gauge
	violations  *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ensue_events_appended_total", Help: "Events stored, by namespace.",
		}, []string{"namespace"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ensue_events_duplicate_total", Help: "Events answered as duplicates of stored ones, by namespace.",
		}, []string{"namespace"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ensue_events_rejected_total", Help: "Events not stored, by HTTP status of their problem.",
		}, []string{"status"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ensue_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ensue_sse_subscribers", Help: "Open Server-Sent Events subscriptions.",
		}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ensue_schema_violations_total", Help: "Schema violations found in events' data at ingest, by namespace and schema mode (warn: stored anyway; enforce: refused).",
		}, []string{"namespace", "mode"}),
	}
	reg.MustRegister(m.appended, m.duplicates, m.rejected, m.requests, m.subscribers, m.violations)
	return m
}
