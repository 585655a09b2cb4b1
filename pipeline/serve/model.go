package serve

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Model metric names: what a server serves and how its model swaps went
// (the apps and the predictor following a registry alias; docs/registry.md).
const (
	ModelInfoMetric         = "datalab_model_info"
	ModelSwapsMetric        = "datalab_model_swaps_total"
	ModelSwapFailuresMetric = "datalab_model_swap_failures_total"
	ModelLoadSecondsMetric  = "datalab_model_load_seconds"
)

// ModelMetrics publishes the serving model's version and its swaps:
//
//	datalab_model_info{app, version, alias} 1   the version serving now (only it)
//	datalab_model_swaps_total{app}              version changes after the first load
//	datalab_model_swap_failures_total{app}      new versions that failed to load
//	datalab_model_load_seconds{app}             how long the last load took
//
// Its OnSwap and OnError fit registry.FollowOptions.
type ModelMetrics struct {
	app, alias string
	info       *prometheus.GaugeVec
	swaps      prometheus.Counter
	failures   prometheus.Counter
	load       prometheus.Gauge

	mu      sync.Mutex
	current string
}

// NewModelMetrics registers the model metrics of app on reg. alias is the
// registry alias followed ("" for a model given by path).
func NewModelMetrics(reg prometheus.Registerer, app, alias string) *ModelMetrics {
	l := prometheus.Labels{"app": app}
	m := &ModelMetrics{app: app, alias: alias,
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ModelInfoMetric,
			Help: "The model version serving now (value 1), by app, version and the registry alias followed."}, []string{"app", "version", "alias"}),
		swaps: prometheus.NewCounter(prometheus.CounterOpts{Name: ModelSwapsMetric, ConstLabels: l,
			Help: "Model version changes while serving (after the first load)."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: ModelSwapFailuresMetric, ConstLabels: l,
			Help: "New model versions that failed to fetch or load (the old one kept serving)."}),
		load: prometheus.NewGauge(prometheus.GaugeOpts{Name: ModelLoadSecondsMetric, ConstLabels: l,
			Help: "Seconds the last model load took (fetch and load)."}),
	}
	reg.MustRegister(m.info, m.swaps, m.failures, m.load)
	return m
}

// OnSwap records that version to began serving (from is "" on the first
// load); version labels are shown short (12 hex digits) as elsewhere.
func (m *ModelMetrics) OnSwap(from, to string, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current != "" {
		m.info.DeleteLabelValues(m.app, short(m.current), m.alias)
	}
	if from != "" {
		m.swaps.Inc()
	}
	m.current = to
	m.info.WithLabelValues(m.app, short(to), m.alias).Set(1)
	m.load.Set(took.Seconds())
}

// OnError counts a version that failed to load.
func (m *ModelMetrics) OnError(string, error) { m.failures.Inc() }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
