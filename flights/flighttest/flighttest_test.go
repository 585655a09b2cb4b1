package flighttest_test

import (
	"slices"
	"testing"

	"github.com/datalabhq/datalab/flights/flightdelay"
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

// TestSpark353TwinScoresTheSameRequests: the second model loads, knows the
// seed form's carrier and airports and scores it differently from the
// first, as registry swap tests need (a prediction shows which scored it).
func TestSpark353TwinScoresTheSameRequests(t *testing.T) {
	first, d := flighttest.Fixtures(t)
	sc, err := flightdelay.LoadScorer(flighttest.ModelDirSpark353(t))
	if err != nil {
		t.Fatal(err)
	}
	req, err := (&flightdelay.Enricher{Distances: d, Scorer: sc}).Enrich(flightdelay.DefaultForm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sc.Score(req)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := first.Score(req)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(p.Probability, p1.Probability) {
		t.Errorf("both models give %v for the seed form", p.Probability)
	}
	if got := sc.Name(); got != "flight-delay-spark-3.5.3 (Spark 3.5.3)" {
		t.Errorf("model %q", got)
	}
}
