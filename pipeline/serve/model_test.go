package serve

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestModelMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewModelMetrics(reg, "matches", "champion")
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	m.OnSwap("", a, 2*time.Second)
	m.OnSwap(a, b, time.Second)
	m.OnError(strings.Repeat("c", 64), errors.New("broken"))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
			got = append(got, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(labels, ","), v))
		}
	}
	want := []string{
		"datalab_model_info{alias=champion,app=matches,version=bbbbbbbbbbbb} 1",
		"datalab_model_load_seconds{app=matches} 1",
		"datalab_model_swap_failures_total{app=matches} 1",
		"datalab_model_swaps_total{app=matches} 1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("metrics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
