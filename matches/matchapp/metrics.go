package matchapp

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// metrics live on the app's own registry (the HTTP metrics, shared with the
// flight app, are serve's), so two apps in one process (tests)
// do not collide and nothing global leaks in.
type metrics struct {
	reg         *prometheus.Registry
	predictions *prometheus.CounterVec
}

// newMetrics registers the app's metrics on reg (nil: a fresh
// serve.NewRegistry()).
func newMetrics(reg *prometheus.Registry, rec Recorder) *metrics {
	if reg == nil {
		reg = serve.NewRegistry()
	}
	m := &metrics{
		reg: reg,
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "datalab_match_predictions_total",
			Help: "Predictions served, by predicted outcome.",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.predictions)
	if rec != nil {
		stat := func(f func(predlog.WriterStats) int64) func() float64 {
			return func() float64 { return float64(f(rec.Stats())) }
		}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "datalab_predlog_written_total",
				Help: "Predictions stored in the prediction log.",
			}, stat(func(s predlog.WriterStats) int64 { return s.Written })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "datalab_predlog_write_failures_total",
				Help: "Failed prediction-log batch writes (each failed retry counts); the batch stays buffered.",
			}, stat(func(s predlog.WriterStats) int64 { return s.Failures })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "datalab_predlog_enqueue_waits_total",
				Help: "Predictions whose request waited for room in the full buffer while the log's writes succeeded but lagged.",
			}, stat(func(s predlog.WriterStats) int64 { return s.Waited })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "datalab_predlog_dropped_total",
				Help: "Predictions never stored: pushed out of the full buffer or arriving after shutdown began.",
			}, stat(func(s predlog.WriterStats) int64 { return s.Dropped })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "datalab_predlog_pending",
				Help: "Predictions buffered in memory, waiting to be stored.",
			}, stat(func(s predlog.WriterStats) int64 { return s.Pending })),
		)
	}
	return m
}
