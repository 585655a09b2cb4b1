package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry is a Prometheus registry with the Go and process collectors,
// what every datalab process's /metrics starts from. Each app (and the
// predictor) has its own, so that two of them in one process (`datalab
// up`, tests) do not collide and nothing global leaks in.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// HandleMetrics registers GET /metrics on mux, serving what reg gathers in
// the Prometheus text format, counted and timed as handler "metrics".
// Failures to gather or encode count in reg's
// promhttp_metric_handler_errors_total.
func (l *Layer) HandleMetrics(mux *http.ServeMux, reg *prometheus.Registry) {
	l.Handle(mux, "GET /metrics", "metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
}
