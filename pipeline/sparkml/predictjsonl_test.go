package sparkml

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestPredictJSONL runs the stored 3.5.3 rows through PredictJSONL twice:
// as {"features":[…, null×4]} vectors (reproducing every stored
// prediction), and as raw rows through the StringIndexers and assembler,
// checking each transformed vector against a by-hand lookup of the labels.
func TestPredictJSONL(t *testing.T) {
	p, err := LoadPipeline(fixture(t, "flight-delay-spark-3.5.3"))
	if err != nil {
		t.Fatal(err)
	}
	rows := readStoredPredictions(t)
	var in bytes.Buffer
	for _, r := range rows {
		fmt.Fprintf(&in, `{"features":[%v,%v,%v,%v,%v,null,null,null,null]}`+"\n", r.DepDelay, r.Distance, r.DayOfMonth, r.DayOfWeek, r.DayOfYear)
	}
	var out bytes.Buffer
	st, err := PredictJSONL(context.Background(), p, &in, &out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != len(rows) {
		t.Fatalf("rows = %d, want %d", st.Rows, len(rows))
	}
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var got struct {
			Prediction  int
			Probability []float64
			Label       string
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		if float64(got.Prediction) != rows[i].Prediction || len(got.Probability) != 4 || got.Label == "" {
			t.Errorf("line %d: %s, Spark stored %v", i+1, line, rows[i].Prediction)
		}
	}

	labels := map[string][]string{}
	for _, st := range p.Stages {
		if si, ok := st.(*StringIndexer); ok {
			labels[si.Inputs[0]] = si.Labels[0]
		}
	}
	p.Derive = []Derivation{{Output: "Route", Inputs: []string{"Origin", "Dest"}, Sep: "-"}}
	for _, r := range rows {
		raw := map[string]any{"Carrier": r.Carrier, "Origin": r.Origin, "Dest": r.Dest,
			"DepDelay": json.Number(fmt.Sprint(r.DepDelay)), "Distance": r.Distance, "DayOfMonth": r.DayOfMonth, "DayOfWeek": r.DayOfWeek, "DayOfYear": r.DayOfYear}
		x, err := p.RowFeatures(raw)
		if err != nil {
			t.Fatalf("row %+v: %v", r, err)
		}
		want := []float64{r.DepDelay, r.Distance, r.DayOfMonth, r.DayOfWeek, r.DayOfYear,
			float64(slices.Index(labels["Carrier"], r.Carrier)), float64(slices.Index(labels["Origin"], r.Origin)),
			float64(slices.Index(labels["Dest"], r.Dest)), float64(slices.Index(labels["Route"], r.Origin+"-"+r.Dest))}
		if slices.Contains(want[5:], -1) {
			t.Fatalf("row %+v has a label the indexers do not know", r)
		}
		if !slices.Equal(x, want) {
			t.Fatalf("row %+v: vector %v, want %v", r, x, want)
		}
	}
}

func TestPredictJSONLErrorsNameTheLine(t *testing.T) {
	p, err := LoadPipeline(fixture(t, "flight-delay-spark-3.3.3"))
	if err != nil {
		t.Fatal(err)
	}
	good := `{"features":[1,2,3,4,5,null,null,null,null]}`
	for _, c := range []struct{ input, want string }{
		{good + "\n\n{not json\n", "line 3: not a JSON object"},
		{good + "\n" + `{"features":[1,2]}`, "line 2: features has 2 values"},
		{`{"Carrier":"AA","Origin":"ATL","Dest":"SFO","Route":"ATL-SFO","DepDelay":null,"Distance":1,"DayOfMonth":1,"DayOfWeek":1,"DayOfYear":1}`, "line 1: VectorAssembler"},
		{`{"Carrier":"??","Origin":"ATL","Dest":"SFO","Route":"ATL-SFO"}`, `line 1: StringIndexer StringIndexer_4196176b7f09: unseen label "??"`},
	} {
		_, err := PredictJSONL(context.Background(), p, strings.NewReader(c.input), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("input %q: error %v, want %q", c.input, err, c.want)
		}
	}
	// handleInvalid=skip rows produce a "skipped" line, keeping lines aligned.
	p.Stages[0].(*StringIndexer).HandleInvalid = "skip"
	var out bytes.Buffer
	st, err := PredictJSONL(context.Background(), p, strings.NewReader(`{"Carrier":"??","Origin":"ATL","Dest":"SFO","Route":"ATL-SFO"}`+"\n"+good), &out)
	if err != nil || st.Skipped != 1 || !strings.HasPrefix(out.String(), `{"skipped":true`) {
		t.Fatalf("skip: %v %+v %s", err, st, out.String())
	}
}

func TestSummary333(t *testing.T) {
	p, err := LoadPipeline(fixture(t, "flight-delay-spark-3.3.3"))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Summary()
	c := s.Classifier
	if len(s.Stages) != 5 || c.NumTrees != 20 || c.NumNodes != 728 || c.NumClasses != 4 || s.Label == nil {
		t.Fatalf("summary: %d stages, %d trees, %d nodes, %d classes, label %v", len(s.Stages), c.NumTrees, c.NumNodes, c.NumClasses, s.Label != nil)
	}
	sum := 0.0
	for _, fi := range c.Importances {
		sum += fi.Importance
	}
	if math.Abs(sum-1) > 1e-9 || c.Importances[0].Name != "DepDelay" {
		t.Errorf("importances %v (sum %v)", c.Importances, sum)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"feature stages (5)", "trees                 20", "728 (", "classes               4", "label stage (training only"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, buf.String())
		}
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRowPredict measures one raw row through the 3.3.3 indexers,
// assembler and forest.
func BenchmarkRowPredict(b *testing.B) {
	p, err := LoadPipeline(fixture(b, "flight-delay-spark-3.3.3"))
	if err != nil {
		b.Fatal(err)
	}
	row := map[string]any{"Carrier": "AA", "Origin": "ATL", "Dest": "SFO", "Route": "ATL-SFO",
		"DepDelay": 5.0, "Distance": 2139.0, "DayOfMonth": 25.0, "DayOfWeek": 6.0, "DayOfYear": 360.0}
	for b.Loop() {
		x, err := p.RowFeatures(row)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Predict(x); err != nil {
			b.Fatal(err)
		}
	}
}
