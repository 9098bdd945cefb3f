package runtime

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	triggered    *prometheus.CounterVec
	succeeded    *prometheus.CounterVec
	failed       *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	running      *prometheus.GaugeVec
	stepSeconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	labels := []string{"namespace", "flow"}
	m := &metrics{
		triggered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ensue_flow_runs_triggered_total",
			Help: "Runs started by events a flow's trigger matched."}, labels),
		succeeded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ensue_flow_runs_succeeded_total",
			Help: "Runs that completed every step."}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ensue_flow_step_attempts_failed_total",
			Help: "Step attempts that failed (retried or final)."}, labels),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ensue_flow_runs_dead_lettered_total",
			Help: "Runs that became dead letters."}, labels),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ensue_flow_runs_in_progress",
			Help: "Runs being executed now."}, labels),
		stepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ensue_flow_step_duration_seconds",
			Help:    "Time from a step's first attempt to its success, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"namespace", "flow", "step"}),
	}
	reg.MustRegister(m.triggered, m.succeeded, m.failed, m.deadLettered, m.running, m.stepSeconds)
	return m
}
