package flighttest_test

import (
	"testing"

	"github.com/datalabhq/datalab/flights/flighttest"
)

func TestFixturesLoadOnce(t *testing.T) {
	s, d := flighttest.Fixtures(t)
	if s == nil || d == nil {
		t.Fatalf("Fixtures = %v, %v", s, d)
	}
	if s2, d2 := flighttest.Fixtures(t); s2 != s || d2 != d {
		t.Error("a second call loaded the fixtures again")
	}
	if got := s.Name(); got != "flight-delay-spark-3.3.3 (Spark 3.3.3)" {
		t.Errorf("model %q", got)
	}
	if miles, ok := d.Lookup("ATL", "SFO"); !ok || miles != 2139 {
		t.Errorf("ATL-SFO distance %v %v, want 2139 miles", miles, ok)
	}
}
