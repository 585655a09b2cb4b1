package sparkml

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// fixture returns the path of a Spark model fixture in the data mirror.
func fixture(t testing.TB, rel ...string) string {
	t.Helper()
	return testmirror.Path(t, append([]string{"spark-models"}, rel...)...)
}

func TestLoadSpark333CourseLayout(t *testing.T) {
	p, err := LoadPipeline(fixture(t, "flight-delay-spark-3.3.3"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Stages); got != 5 {
		t.Errorf("feature stages = %d, want 5", got)
	}
	if p.Label == nil || p.Label.OutputCol != "ArrDelayBucket" {
		t.Errorf("label stage = %+v, want the ArrDelayBucket Bucketizer", p.Label)
	}
	if got := len(p.Model.Trees); got != 20 {
		t.Errorf("trees = %d, want 20", got)
	}
	if got := p.Model.NumNodes(); got != 728 {
		t.Errorf("nodes = %d, want 728", got)
	}
	if p.Model.NumClasses != 4 || p.Model.NumFeatures != 9 {
		t.Errorf("classes, features = %d, %d; want 4, 9", p.Model.NumClasses, p.Model.NumFeatures)
	}
	wantOrder := []string{"Carrier_index", "Origin_index", "Dest_index", "Route_index", "Features_vec"}
	for i, st := range p.Stages {
		if got := st.OutputCols()[0]; got != wantOrder[i] {
			t.Errorf("stage %d writes %s, want %s", i, got, wantOrder[i])
		}
	}
	if p.Model.Params.MaxBins != 4657 || p.Model.Params.MaxDepth != 5 || p.Model.Params.Impurity != "gini" {
		t.Errorf("params = %+v", p.Model.Params)
	}
	if p.Model.Params.CategoricalFeatures[5] != 14 {
		t.Errorf("Carrier_index arity = %d, want 14 carriers", p.Model.Params.CategoricalFeatures[5])
	}
}

type storedPrediction struct {
	DepDelay, Distance               float64
	DayOfMonth, DayOfWeek, DayOfYear float64
	Prediction                       float64
	Carrier, Origin, Dest, Route     string
}

func readStoredPredictions(t *testing.T) []storedPrediction {
	t.Helper()
	f, err := os.Open(fixture(t, "flight-delay-spark-3.5.3", "stored_predictions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []storedPrediction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var sp storedPrediction
		if err := json.Unmarshal(sc.Bytes(), &sp); err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, sp)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoredPredictions353 reproduces every prediction the 3.5.3 course
// model's streaming job stored: it never applied the StringIndexers, so the
// four index features were missing (NaN).
func TestStoredPredictions353(t *testing.T) {
	p, err := LoadPipeline(fixture(t, "flight-delay-spark-3.5.3"))
	if err != nil {
		t.Fatal(err)
	}
	rows := readStoredPredictions(t)
	if len(rows) != 139 {
		t.Fatalf("stored predictions = %d, want 139", len(rows))
	}
	nan := math.NaN()
	mismatch := 0
	for i, r := range rows {
		x := []float64{r.DepDelay, r.Distance, r.DayOfMonth, r.DayOfWeek, r.DayOfYear, nan, nan, nan, nan}
		pred, err := p.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		if float64(pred.Class) != r.Prediction {
			mismatch++
			t.Errorf("row %d (%+v): prediction %d, Spark stored %v (probability %v)", i+1, r, pred.Class, r.Prediction, pred.Probability)
		}
	}
	if mismatch > 0 {
		t.Errorf("%d of %d predictions differ", mismatch, len(rows))
	}
}

func TestLoadLegacyModels(t *testing.T) {
	p, err := LoadPipeline(fixture(t, "flight-delay-spark-2.4.0"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stages) != 5 || p.Label == nil || len(p.Model.Trees) != 20 {
		t.Fatalf("2.4.0: %d stages, label %v, %d trees", len(p.Stages), p.Label != nil, len(p.Model.Trees))
	}
	for _, tr := range p.Model.Trees {
		for _, n := range tr.Nodes {
			if n.RawCount != -1 {
				t.Fatalf("2.4.0 node rawCount = %d, want -1 (absent before Spark 3.0)", n.RawCount)
			}
		}
	}
	x, err := p.Transform(map[string]any{"Carrier": "AA", "Origin": "ATL", "Dest": "SFO", "Route": "ATL-SFO",
		"DepDelay": 5.0, "Distance": 2139.0, "DayOfMonth": 25.0, "DayOfWeek": 6.0, "DayOfYear": 360.0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Predict(x); err != nil {
		t.Fatal(err)
	}

	p23, err := LoadPipeline(fixture(t, "pyspark-2.3-rf-4parts"))
	if err != nil {
		t.Fatal(err)
	}
	if p23.Model.NumFeatures != 692 || p23.Model.NumClasses != 2 || len(p23.Model.Trees) != 10 {
		t.Fatalf("2.3: features %d classes %d trees %d", p23.Model.NumFeatures, p23.Model.NumClasses, len(p23.Model.Trees))
	}
	pred, err := p23.Predict(make([]float64, 692))
	if err != nil {
		t.Fatal(err)
	}
	if s := pred.Probability[0] + pred.Probability[1]; math.Abs(s-1) > 1e-12 {
		t.Fatalf("2.3 probabilities sum to %v", s)
	}
	_ = filepath.Join
}
