package flightfeat

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

func ptr[T any](v T) *T { return &v }

// fixture has carriers WN×3, MQ×2, FL×2, HA×1 (FL/MQ tie: alphabetical),
// one null carrier, and routes derived from Origin/Dest.
func fixture() *Table {
	mk := func(carrier *string, origin, dest string, dep, dist, arr float64, dom, dow, doy int32) ingest.FlightRow {
		return ingest.FlightRow{Carrier: carrier, Origin: origin, Dest: dest, DepDelay: ptr(dep), Distance: ptr(dist),
			ArrDelay: arr, DayOfMonth: dom, DayOfWeek: dow, DayOfYear: doy}
	}
	return FromRows([]ingest.FlightRow{
		mk(ptr("WN"), "ATL", "SFO", 5, 2139, -20, 1, 2, 92),
		mk(ptr("MQ"), "ORD", "ATL", -3, 606, -15, 2, 3, 93),
		mk(ptr("WN"), "ATL", "SFO", 40, 2139, 0, 3, 4, 94),
		mk(ptr("FL"), "SFO", "ATL", 0, 2139, 29.9, 4, 5, 95),
		mk(ptr("HA"), "HNL", "OGG", 1, 100, 30, 5, 6, 96),
		mk(ptr("FL"), "ATL", "ORD", 2, 606, 45, 6, 7, 97),
		mk(ptr("MQ"), "ORD", "ATL", 8, 606, -1, 7, 1, 98),
		mk(ptr("WN"), "ORD", "SFO", 9, 1846, 12, 8, 2, 99),
		mk(nil, "ATL", "SFO", 3, 2139, 3, 9, 3, 100),
	})
}

func all(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

func TestStringIndexerFrequencyDescTiesAlphabetical(t *testing.T) {
	tb := fixture()
	si, err := FitStringIndexer(tb, ColCarrier, all(tb.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"WN", "FL", "MQ", "HA"}; !slices.Equal(si.Labels[0], want) {
		t.Errorf("labels %v, want %v (count desc, ties alphabetical, null not a label)", si.Labels[0], want)
	}
	if si.HandleInvalid != "keep" || si.StringOrderType != "frequencyDesc" || si.NumIndices(0) != 5 {
		t.Errorf("handleInvalid %s, order %s, arity %d; want keep, frequencyDesc, 5", si.HandleInvalid, si.StringOrderType, si.NumIndices(0))
	}
	for _, c := range []struct {
		v    any
		want float64
	}{{"WN", 0}, {"FL", 1}, {"MQ", 2}, {"HA", 3}, {"AA", 4}, {nil, 4}} {
		got, err := si.Index(0, c.v)
		if err != nil || got != c.want {
			t.Errorf("Index(%v) = %v, %v; want %v (keep: unseen and null → len(labels))", c.v, got, err, c.want)
		}
	}
	// Only training rows count: fitting on rows 0..3 sees WN×2, MQ, FL.
	si, err = FitStringIndexer(tb, ColCarrier, []int{0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"WN", "FL", "MQ"}; !slices.Equal(si.Labels[0], want) {
		t.Errorf("labels on rows 0..3: %v, want %v", si.Labels[0], want)
	}
	route, err := FitStringIndexer(tb, ColRoute, all(tb.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ATL-SFO", "ORD-ATL", "ATL-ORD", "HNL-OGG", "ORD-SFO", "SFO-ATL"}; !slices.Equal(route.Labels[0], want) {
		t.Errorf("route labels %v, want %v", route.Labels[0], want)
	}
}

func TestLabelBucketizerEdges(t *testing.T) {
	b := LabelBucketizer()
	for _, c := range []struct {
		x    float64
		want float64
	}{{math.Inf(-1), 0}, {-1000, 0}, {-15.0001, 0}, {-15, 1}, {-0.5, 1}, {0, 2}, {29.99, 2}, {30, 3}, {1000, 3}, {math.Inf(1), 3}} {
		got, err := b.Bucket(c.x)
		if err != nil || got != c.want {
			t.Errorf("Bucket(%v) = %v, %v; want %v", c.x, got, err, c.want)
		}
	}
	if _, err := b.Bucket(math.NaN()); err == nil || errors.Is(err, sparkml.ErrSkipRow) {
		t.Errorf("Bucket(NaN) = %v; want an error (handleInvalid error: a flight without ArrDelay has no label)", err)
	}
	if b.InputCol != ColArrDelay || b.OutputCol != LabelCol || !slices.Equal(b.Splits, DelaySplits) {
		t.Errorf("label stage %+v", b)
	}
	y, err := Labels(fixture(), all(9))
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0, 1, 2, 2, 3, 3, 1, 2, 2}; !slices.Equal(y, want) {
		t.Errorf("labels %v, want %v", y, want)
	}
}

func TestSeedFeatureOrder(t *testing.T) {
	want := []string{"DepDelay", "Distance", "DayOfMonth", "DayOfWeek", "DayOfYear", "Carrier_index", "Origin_index", "Dest_index", "Route_index"}
	if !slices.Equal(SeedFeatures, want) {
		t.Fatalf("SeedFeatures %v, want %v", SeedFeatures, want)
	}
	st, err := FitStages(fixture(), all(9), SeedFeatures)
	if err != nil {
		t.Fatal(err)
	}
	va, ok := st.List[len(st.List)-1].(*sparkml.VectorAssembler)
	if !ok || !slices.Equal(va.Inputs, want) || va.OutputCol != FeaturesCol {
		t.Errorf("last stage %+v, want the assembler of %v", st.List[len(st.List)-1], want)
	}
	var indexed []string
	for _, s := range st.List[:len(st.List)-1] {
		indexed = append(indexed, s.InputCols()...)
	}
	if !slices.Equal(indexed, StringColumns) {
		t.Errorf("indexers on %v, want %v", indexed, StringColumns)
	}
	if got, want := st.CategoricalArity(), map[int]int{5: 5, 6: 5, 7: 5, 8: 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("arity %v, want %v", got, want)
	}
	if _, err := FitStages(fixture(), all(9), []string{"ArrDelay"}); err == nil {
		t.Error("ArrDelay accepted as a feature")
	}
}

// TestColumnsEqualTransform: the column-wise vectors used for training are
// the vectors the Spark pipeline computes from raw rows, including unseen
// and null values (fitted on rows 0..5, applied to all rows).
func TestColumnsEqualTransform(t *testing.T) {
	tb := fixture()
	train := []int{0, 1, 2, 3, 4, 5}
	st, err := FitStages(tb, train, SeedFeatures)
	if err != nil {
		t.Fatal(err)
	}
	cols := st.Columns(tb, all(tb.Len()))
	p := sparkml.NewPipeline(st.List, LabelBucketizer(), nil)
	for i := range tb.Len() {
		row := tb.RawRow(i)
		x, err := p.Transform(row)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		for f := range x {
			if x[f] != cols[f][i] {
				t.Errorf("row %d feature %s: Transform %v, Columns %v", i, SeedFeatures[f], x[f], cols[f][i])
			}
		}
		// Without Route, the derivation gives the same vector.
		delete(row, ColRoute)
		p.Derive = []sparkml.Derivation{{Output: ColRoute, Inputs: []string{ColOrigin, ColDest}, Sep: "-"}}
		y, err := p.Transform(row)
		if err != nil || !slices.Equal(x, y) {
			t.Errorf("row %d without Route: %v, %v; want %v", i, y, err, x)
		}
		p.Derive = nil
	}
	// Row 6 (MQ ORD-ATL) is seen; row 7's route ORD-SFO and row 8's null carrier are not.
	if cols[8][7] != 5 || cols[5][8] != 4 {
		t.Errorf("unseen route index %v (want 5), null carrier index %v (want 4)", cols[8][7], cols[5][8])
	}
}

func TestRandomSplit(t *testing.T) {
	a, err := RandomSplit(1000, 0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := RandomSplit(1000, 0.2, 7)
	c, _ := RandomSplit(1000, 0.2, 8)
	if len(a.Test) != 200 || len(a.Train) != 800 {
		t.Fatalf("sizes %d/%d", len(a.Train), len(a.Test))
	}
	if !slices.Equal(a.Test, b.Test) || slices.Equal(a.Test, c.Test) {
		t.Error("split not a function of the seed")
	}
	if !slices.IsSorted(a.Train) || !slices.IsSorted(a.Test) {
		t.Error("split lists not sorted")
	}
	seen := make([]bool, 1000)
	for _, i := range append(slices.Clone(a.Train), a.Test...) {
		if seen[i] {
			t.Fatalf("row %d twice", i)
		}
		seen[i] = true
	}
	if _, err := RandomSplit(10, 1, 1); err == nil {
		t.Error("test fraction 1 accepted")
	}
}

// TestCategoricalTraining: the stages' arities are valid forest
// CategoricalFeatures (every index is within its arity).
func TestCategoricalTraining(t *testing.T) {
	tb := fixture()
	st, err := FitStages(tb, all(9), SeedFeatures)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := Labels(tb, all(9))
	p := forest.DefaultParams()
	p.NumTrees = 3
	p.CategoricalFeatures = st.CategoricalArity()
	if _, err := forest.Fit(t.Context(), st.Columns(tb, all(9)), y, p, forest.WithNumClasses(4)); err != nil {
		t.Fatal(err)
	}
}
