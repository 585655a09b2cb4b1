package drift

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

const rows = 20000

// mustCompare is Compare, failing the test on an error.
func mustCompare(t *testing.T, ref, cur Sample, o Options) *Result {
	t.Helper()
	res, err := Compare(ref, cur, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// statuses returns feature name → status, the predicted classes included.
func statuses(res *Result) map[string]Status {
	m := map[string]Status{}
	for _, f := range res.all() {
		m[f.Name] = f.Status
	}
	return m
}

// feature returns the comparison of the named feature.
func feature(t *testing.T, res *Result, name string) *Feature {
	t.Helper()
	for _, f := range res.all() {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no feature %q in the result", name)
	return nil
}

// checkOnlyFlagged fails unless exactly the named feature has status want
// and every other is ok, and the verdict is want.
func checkOnlyFlagged(t *testing.T, res *Result, name string, want Status) {
	t.Helper()
	for _, f := range res.all() {
		w := StatusOK
		if f.Name == name {
			w = want
		}
		if f.Status != w {
			t.Errorf("%s: status %s, want %s (PSI %.4f, unseen %.4f, reasons %q)", f.Name, f.Status, w, f.PSI, f.UnseenShare, f.Reasons)
		}
	}
	if res.Verdict != want {
		t.Errorf("verdict %s, want %s", res.Verdict, want)
	}
	if want == StatusDrift && (len(res.Alerts()) == 0 || !strings.HasPrefix(res.Alerts()[0], name+": ")) {
		t.Errorf("alerts %q, want lines about %s", res.Alerts(), name)
	}
}

func TestSameDistributionIsNotFlagged(t *testing.T) {
	p := basePopulation()
	for seed := uint64(1); seed <= 5; seed++ {
		res := mustCompare(t, p.draw(seed, rows), p.draw(seed+1000, rows), Options{})
		if got := len(res.all()); got != len(featureNames)+1 {
			t.Fatalf("seed %d: %d features compared, want %d and the predicted classes", seed, got, len(featureNames))
		}
		for _, f := range res.all() {
			if f.Status != StatusOK || f.PSI >= res.Options.PSIWarn/2 {
				t.Errorf("seed %d: %s: status %s, PSI %.4f; want ok well below the warn threshold", seed, f.Name, f.Status, f.PSI)
			}
		}
		if res.Verdict != StatusOK || len(res.Alerts()) != 0 || len(res.Warnings()) != 0 {
			t.Errorf("seed %d: verdict %s, alerts %q, warnings %q", seed, res.Verdict, res.Alerts(), res.Warnings())
		}
	}
}

func TestShiftedNumericFeatureIsFlaggedOnlyThere(t *testing.T) {
	ref := basePopulation()
	cur := basePopulation()
	cur.ageMean += 5 // one standard deviation
	for seed := uint64(1); seed <= 3; seed++ {
		res := mustCompare(t, ref.draw(seed, rows), cur.draw(seed+1000, rows), Options{})
		checkOnlyFlagged(t, res, "age", StatusDrift)
		age := feature(t, res, "age")
		if *age.ReferenceMean > 30.2 || *age.CurrentMean < 34.8 {
			t.Errorf("age means %.3f → %.3f, want about 30 → 35", *age.ReferenceMean, *age.CurrentMean)
		}
		// Most of the shifted rows land above the reference's top decile.
		if last := age.Bins[len(age.Bins)-1]; !strings.HasSuffix(last.Label, ", +∞)") || last.Current < 0.3 {
			t.Errorf("age's last bin %+v, want the open-ended top bin with about 39%% of the current rows", last)
		}
	}
}

func TestModerateShiftWarns(t *testing.T) {
	ref := basePopulation()
	cur := basePopulation()
	cur.ageMean += 2 // 0.4 standard deviations: PSI ≈ 0.16
	res := mustCompare(t, ref.draw(1, rows), cur.draw(2, rows), Options{})
	checkOnlyFlagged(t, res, "age", StatusWarn)
	if w := res.Warnings(); len(w) != 1 || !strings.Contains(w[0], "warn threshold 0.1000") {
		t.Errorf("warnings %q", w)
	}
}

func TestNewCategoriesAreFlaggedByUnseenShare(t *testing.T) {
	ref := basePopulation()
	cur := basePopulation()
	cur.newTourneys = 0.1
	res := mustCompare(t, ref.draw(1, rows), cur.draw(2, rows), Options{})
	checkOnlyFlagged(t, res, "tournament", StatusDrift)
	f := feature(t, res, "tournament")
	if math.Abs(f.UnseenShare-0.1) > 0.01 {
		t.Errorf("unseen share %.4f, want about 0.1", f.UnseenShare)
	}
	if len(f.Unseen) != 7 || !strings.HasPrefix(f.Unseen[0].Category, "New Cup ") || f.Unseen[0].Rows < f.Unseen[6].Rows {
		t.Errorf("unseen categories %+v, want the 7 new cups, most frequent first", f.Unseen)
	}
	if !slices.ContainsFunc(f.Reasons, func(s string) bool { return strings.Contains(s, "category the reference never has") }) {
		t.Errorf("reasons %q do not name the unseen share", f.Reasons)
	}

	// The unseen share alone flags the feature, whatever its PSI.
	cur.newTourneys = 0.06
	res = mustCompare(t, ref.draw(1, rows), cur.draw(2, rows), Options{PSIWarn: 50, PSIAlert: 100})
	checkOnlyFlagged(t, res, "tournament", StatusDrift)
	if f := feature(t, res, "tournament"); len(f.Reasons) != 1 || !strings.Contains(f.Reasons[0], "(alert threshold 5.0%)") {
		t.Errorf("reasons %q, want the unseen share only", f.Reasons)
	}
	// Below the threshold it does not.
	cur.newTourneys = 0.03
	res = mustCompare(t, ref.draw(1, rows), cur.draw(2, rows), Options{PSIWarn: 50, PSIAlert: 100})
	if res.Verdict != StatusOK {
		t.Errorf("verdict %s at a 3%% unseen share, want ok", res.Verdict)
	}
}

func TestPredictedClassMixIsFlagged(t *testing.T) {
	ref := basePopulation()
	cur := basePopulation()
	cur.classes = []float64{0.2, 0.3, 0.5}
	res := mustCompare(t, ref.draw(1, rows), cur.draw(2, rows), Options{})
	checkOnlyFlagged(t, res, PredictionName, StatusDrift)
	var labels []string
	for _, b := range res.Prediction.Bins {
		labels = append(labels, b.Label)
	}
	if len(labels) != 3 || labels[0] != "home" || !slices.Contains(labels, "draw") || !slices.Contains(labels, "away") { // most frequent first
		t.Errorf("prediction bins %q, want home, then draw and away", labels)
	}
	// (0.2−0.5)·ln(0.2/0.5) + (0.5−0.25)·ln(0.5/0.25) + (0.3−0.25)·ln(0.3/0.25) ≈ 0.4571 in expectation.
	if math.Abs(res.Prediction.PSI-0.4571) > 0.03 {
		t.Errorf("prediction PSI %.4f, want about 0.4571", res.Prediction.PSI)
	}
}

func TestPSIOfIdenticalSamplesIsZero(t *testing.T) {
	s := basePopulation().draw(7, 5000)
	res := mustCompare(t, s, s, Options{})
	for _, f := range res.all() {
		if f.PSI != 0 {
			t.Errorf("%s: PSI %g, want exactly 0", f.Name, f.PSI)
		}
		if f.Status != StatusOK {
			t.Errorf("%s: status %s", f.Name, f.Status)
		}
	}
	if res.Verdict != StatusOK || res.MaxPSI() != 0 {
		t.Errorf("verdict %s, max PSI %g", res.Verdict, res.MaxPSI())
	}
}

func TestPSIHandComputed(t *testing.T) {
	const eps = 1e-4
	ref := Sample{Columns: []Column{
		NumericColumn("x", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}),
		CategoricalColumn("c", []string{"a", "a", "b", "c", "a", "a", "b", "c", "a", "b"}),
	}}
	cur := Sample{Columns: []Column{
		NumericColumn("x", []float64{1, 2, 3, 6}),
		CategoricalColumn("c", []string{"a", "b", "b", "d"}),
	}}
	res := mustCompare(t, ref, cur, Options{Bins: 2, MinRows: 1})
	// x: the median edge is 5 (⌈0.5·10⌉−1 = index 4); bins (-∞, 5] and (5, +∞)
	// hold 50% and 50% of the reference and 75% and 25% of the current rows.
	x := feature(t, res, "x")
	wantX := 0.25*math.Log(0.75/0.5) + (-0.25)*math.Log(0.25/0.5)
	if math.Abs(x.PSI-wantX) > 1e-12 || math.Abs(x.PSI-0.274653) > 1e-6 {
		t.Errorf("x: PSI %.9f, want %.9f", x.PSI, wantX)
	}
	wantBins := []Bin{
		{Label: "(-∞, 5]", Reference: 0.5, Current: 0.75, PSI: 0.25 * math.Log(1.5)},
		{Label: "(5, +∞)", Reference: 0.5, Current: 0.25, PSI: -0.25 * math.Log(0.5)},
	}
	if !reflect.DeepEqual(x.Bins, wantBins) {
		t.Errorf("x bins %+v, want %+v", x.Bins, wantBins)
	}
	if *x.ReferenceMean != 5.5 || *x.CurrentMean != 3 {
		t.Errorf("x means %g, %g", *x.ReferenceMean, *x.CurrentMean)
	}
	// c: reference a 50%, b 30%, c 20%; current a 25%, b 50%, c none, d unseen 25%.
	c := feature(t, res, "c")
	wantC := (0.25-0.5)*math.Log(0.25/0.5) + (0.5-0.3)*math.Log(0.5/0.3) + (eps-0.2)*math.Log(eps/0.2) + (0.25-eps)*math.Log(0.25/eps)
	if math.Abs(c.PSI-wantC) > 1e-12 || math.Abs(c.PSI-3.750101) > 1e-6 {
		t.Errorf("c: PSI %.9f, want %.9f", c.PSI, wantC)
	}
	if c.UnseenShare != 0.25 || !reflect.DeepEqual(c.Unseen, []CategoryCount{{"d", 1}}) {
		t.Errorf("c: unseen %g %+v", c.UnseenShare, c.Unseen)
	}
	var labels []string
	for _, b := range c.Bins {
		labels = append(labels, b.Label)
	}
	if want := []string{"a", "b", "c", LabelUnseen}; !slices.Equal(labels, want) {
		t.Errorf("c bins %q, want %q", labels, want)
	}
}

func TestQuantileBins(t *testing.T) {
	ramp := make([]float64, 1000)
	for i := range ramp {
		ramp[i] = float64(i)
	}
	for _, tc := range []struct {
		name   string
		values []float64
		bins   int
		want   []string
		counts []int
	}{
		{"continuous: equal bins", ramp, 4, []string{"(-∞, 249]", "(249, 499]", "(499, 749]", "(749, +∞)", LabelMissing}, []int{250, 250, 250, 250, 0}},
		{"binary: one bin per value, empty top bin", []float64{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, 10, []string{"(-∞, 0]", "(0, 1]", "(1, +∞)", LabelMissing}, []int{7, 3, 0, 0}},
		{"constant", []float64{4, 4, 4, 4}, 10, []string{"(-∞, 4]", "(4, +∞)", LabelMissing}, []int{4, 0, 0}},
		{"missing only", []float64{math.NaN(), math.Inf(1)}, 10, []string{"(-∞, +∞)", LabelMissing}, []int{0, 2}},
		{"fewer values than bins", []float64{3, 1, 2}, 10, []string{"(-∞, 1]", "(1, 2]", "(2, 3]", "(3, +∞)", LabelMissing}, []int{1, 1, 1, 0, 0}},
		{"small edges print short", []float64{0.1 + 0.2, 1e-9, 12345.678, 1}, 2, []string{"(-∞, 0.3]", "(0.3, +∞)", LabelMissing}, []int{2, 2, 0}},
	} {
		f := numericReference("v", tc.values, tc.bins)
		if !slices.Equal(f.labels, tc.want) || !slices.Equal(f.counts, tc.counts) {
			t.Errorf("%s: bins %q counts %v, want %q %v", tc.name, f.labels, f.counts, tc.want, tc.counts)
		}
	}
	// Current values: edges belong to the bin below, outliers to the open ends.
	f := numericReference("v", ramp, 4)
	got := f.compare([]float64{-1e9, 249, 249.5, 749, 750, 1e300, math.NaN(), math.Inf(-1)}, nil, 8, DefaultOptions)
	var counts []float64
	for _, b := range got.Bins {
		counts = append(counts, b.Current*8)
	}
	if want := []float64{2, 1, 1, 2, 2}; !slices.Equal(counts, want) {
		t.Errorf("current rows per bin %v, want %v", counts, want)
	}
}

func TestCategoriesBeyondMaxArePooled(t *testing.T) {
	ref := Sample{Columns: []Column{CategoricalColumn("c", []string{"a", "a", "a", "b", "b", "c", "d", ""})}}
	cur := Sample{Columns: []Column{CategoricalColumn("c", []string{"a", "c", "d", "d", "e", "", "", ""})}}
	res := mustCompare(t, ref, cur, Options{MaxCategories: 2, MinRows: 1})
	want := []Bin{
		{Label: "a", Reference: 3.0 / 8, Current: 1.0 / 8},
		{Label: "b", Reference: 2.0 / 8, Current: 0},
		{Label: LabelOther, Reference: 2.0 / 8, Current: 3.0 / 8},
		{Label: LabelUnseen, Reference: 0, Current: 1.0 / 8},
		{Label: LabelMissing, Reference: 1.0 / 8, Current: 3.0 / 8},
	}
	c := res.Features[0]
	for i := range want {
		want[i].PSI = psiTerm(want[i].Reference, want[i].Current, DefaultOptions.Epsilon)
	}
	if !reflect.DeepEqual(c.Bins, want) {
		t.Errorf("bins %+v, want %+v", c.Bins, want)
	}
	if c.ReferenceMissing != 1.0/8 || c.CurrentMissing != 3.0/8 || c.UnseenShare != 1.0/8 {
		t.Errorf("missing %g → %g, unseen %g", c.ReferenceMissing, c.CurrentMissing, c.UnseenShare)
	}
}

func TestMissingValues(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	n := 2000
	refX, curX, same := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		// Twenty blocks of 0…99; missing values blank whole blocks, so the
		// non-missing values are uniform on 0…99 in every sample.
		refX[i], curX[i], same[i] = float64(i%100), float64(i%100), float64(i%100)
		if block := i / 100; block%10 == 0 {
			refX[i], same[i] = nan, nan // 10% missing in the reference
		}
		if block := i / 100; block%10 < 4 {
			curX[i] = nan // 40% missing in the current sample
		}
	}
	curX[1] = inf // missing too
	ref := Sample{Columns: []Column{NumericColumn("x", refX), NumericColumn("y", same)}}
	cur := Sample{Columns: []Column{NumericColumn("x", curX), NumericColumn("y", same)}}
	res := mustCompare(t, ref, cur, Options{})
	x, y := feature(t, res, "x"), feature(t, res, "y")
	if x.ReferenceMissing != 0.1 || x.CurrentMissing != 0.4 {
		t.Errorf("x missing shares %g → %g, want 0.1 → 0.4 (±Inf counts as missing)", x.ReferenceMissing, x.CurrentMissing)
	}
	// Every value bin holds 0.9·s of the reference rows and 0.6·s of the
	// current rows, the missing bin 0.1 and 0.4: PSI = 0.3·ln(0.9/0.6) +
	// 0.3·ln(0.4/0.1) = 0.3·ln 6, and the missing bin carries most of it.
	if math.Abs(x.PSI-0.3*math.Log(6)) > 1e-9 || x.Status != StatusDrift {
		t.Errorf("x: PSI %.9f, status %s; want %.9f, drift", x.PSI, x.Status, 0.3*math.Log(6))
	}
	if last := x.Bins[len(x.Bins)-1]; last.Label != LabelMissing || math.Abs(last.PSI-0.3*math.Log(4)) > 1e-12 {
		t.Errorf("x: missing bin %+v", last)
	}
	if y.PSI != 0 || y.Status != StatusOK || y.ReferenceMissing != 0.1 {
		t.Errorf("y (same missing pattern): PSI %g, status %s, missing %g", y.PSI, y.Status, y.ReferenceMissing)
	}
	if *x.ReferenceMean != 49.5 || *x.CurrentMean != 49.5 {
		t.Errorf("means %g, %g: want 49.5, the mean of the values that are not missing", *x.ReferenceMean, *x.CurrentMean)
	}

	// A feature missing everywhere has no mean, and still encodes as JSON.
	allNaN := []float64{nan, nan, nan}
	res = mustCompare(t, Sample{Columns: []Column{NumericColumn("z", allNaN)}}, Sample{Columns: []Column{NumericColumn("z", allNaN)}}, Options{MinRows: 1})
	z := res.Features[0]
	if z.ReferenceMean != nil || z.CurrentMean != nil || z.PSI != 0 || z.ReferenceMissing != 1 {
		t.Errorf("all missing: %+v", z)
	}
	b, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("mean")) {
		t.Errorf("JSON has a mean for a feature without values:\n%s", b)
	}
}

func TestTooFewRows(t *testing.T) {
	ref := basePopulation()
	cur := basePopulation()
	cur.ageMean += 10
	res := mustCompare(t, ref.draw(1, rows), cur.draw(2, 50), Options{})
	if res.Verdict != StatusTooFewRows || len(res.Alerts()) != 0 || len(res.Warnings()) != 0 {
		t.Errorf("verdict %s, alerts %q; want too few rows and no alerts", res.Verdict, res.Alerts())
	}
	for _, f := range res.all() {
		if f.Status != StatusTooFewRows || f.Reasons != nil {
			t.Errorf("%s: status %s, reasons %q", f.Name, f.Status, f.Reasons)
		}
	}
	if age := feature(t, res, "age"); age.PSI < 1 {
		t.Errorf("age PSI %.4f: the figures should still be computed", age.PSI)
	}
	if s := res.Summary(); !strings.Contains(s, "too few rows to judge: 50 current rows") {
		t.Errorf("summary %q", s)
	}
	// The threshold is configurable, and applies to the reference too.
	if res, _ := Compare(ref.draw(1, rows), cur.draw(2, 50), Options{MinRows: 50}); res.Verdict != StatusDrift {
		t.Errorf("MinRows 50: verdict %s, want drift", res.Verdict)
	}
	if res, _ := Compare(ref.draw(1, 999), ref.draw(2, rows), Options{}); res.Verdict != StatusTooFewRows {
		t.Errorf("999 reference rows: verdict %s, want too few rows", res.Verdict)
	}
	// No current rows at all, predicted classes nil: still a result.
	empty := Sample{Columns: []Column{NumericColumn("age", nil), NumericColumn("income", nil), NumericColumn("rank_diff", nil), NumericColumn("goals", nil),
		NumericColumn("neutral", nil), NumericColumn("elo", nil), NumericColumn("score", nil),
		CategoricalColumn("team", nil), CategoricalColumn("tournament", nil), CategoricalColumn("airport", nil)}}
	res = mustCompare(t, ref.draw(1, rows), empty, Options{})
	if res.Verdict != StatusTooFewRows || res.CurrentRows != 0 || res.Features[0].CurrentMean != nil {
		t.Errorf("empty: verdict %s, rows %d", res.Verdict, res.CurrentRows)
	}
	if _, err := res.JSON(); err != nil {
		t.Error(err)
	}
}

func TestSampleErrors(t *testing.T) {
	good := Sample{Columns: []Column{NumericColumn("x", []float64{1, 2}), CategoricalColumn("c", []string{"a", "b"})}, Predicted: []string{"p", "q"}}
	for _, tc := range []struct {
		name     string
		ref, cur Sample
		o        Options
		want     string
	}{
		{"ragged columns", Sample{Columns: []Column{NumericColumn("x", []float64{1}), CategoricalColumn("c", []string{"a", "b"})}}, good, Options{}, `column "c" has 2 rows, column "x" has 1`},
		{"ragged predictions", Sample{Columns: good.Columns, Predicted: []string{"p"}}, good, Options{}, "1 predicted classes for 2 rows"},
		{"duplicate column", Sample{Columns: []Column{NumericColumn("x", nil), NumericColumn("x", nil)}}, good, Options{}, `column "x" appears twice`},
		{"unnamed column", Sample{Columns: []Column{NumericColumn("", nil)}}, good, Options{}, `column name "" is not allowed`},
		{"no kind", Sample{Columns: []Column{{Name: "x"}}}, good, Options{}, `column "x" has no kind`},
		{"kind and values disagree", Sample{Columns: []Column{{Name: "x", Kind: Numeric, Category: []string{"a"}}}}, good, Options{}, `column "x" is numeric but has categorical values`},
		{"empty sample", Sample{}, good, Options{}, "neither columns nor predicted classes"},
		{"missing column", good, Sample{Columns: good.Columns[:1], Predicted: good.Predicted}, Options{}, "the current sample has 1 columns, the reference 2"},
		{"other column", good, Sample{Columns: []Column{good.Columns[0], CategoricalColumn("d", []string{"a", "b"})}, Predicted: good.Predicted}, Options{}, `the reference has no column "d"`},
		{"other kind", good, Sample{Columns: []Column{good.Columns[0], NumericColumn("c", []float64{1, 2})}, Predicted: good.Predicted}, Options{}, `column "c" is categorical in the reference and numeric in the current sample`},
		{"predictions on one side", good, Sample{Columns: good.Columns}, Options{}, "the reference has predicted classes and the current sample has none"},
		{"predictions on the other side", Sample{Columns: good.Columns}, good, Options{}, "the current sample has predicted classes and the reference has none"},
		{"warn above alert", good, good, Options{PSIWarn: 0.3}, "warn threshold 0.3 is above the alert threshold 0.25"},
		{"negative option", good, good, Options{MinRows: -1}, "negative values are not allowed"},
		{"too many bins", good, good, Options{Bins: 101}, "101 bins: at most 100 are allowed"},
	} {
		_, err := Compare(tc.ref, tc.cur, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// Column order may differ.
	swapped := Sample{Columns: []Column{good.Columns[1], good.Columns[0]}, Predicted: good.Predicted}
	res, err := Compare(good, swapped, Options{MinRows: 1})
	if err != nil || res.Features[0].Name != "x" || res.Features[0].PSI != 0 || res.Features[1].PSI != 0 {
		t.Errorf("swapped columns: %v, %+v", err, res)
	}
}

func TestResultJSON(t *testing.T) {
	ref, cur := basePopulation(), basePopulation()
	cur.ageMean += 5
	cur.newTourneys = 0.1
	res := mustCompare(t, ref.draw(1, 3000), cur.draw(2, 3000), Options{})
	b, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Compare(ref.draw(1, 3000), cur.draw(2, 3000), Options{})
	if b2, _ := again.JSON(); !bytes.Equal(b, b2) {
		t.Error("the same comparison encodes to different bytes")
	}
	for _, prefix := range []string{"{\n  \"verdict\": \"drift\",\n  \"reference_rows\": 3000,\n  \"current_rows\": 3000,\n  \"options\": {\n    \"bins\": 10,\n    \"max_categories\": 20,\n    \"epsilon\": 0.0001,"} {
		if !bytes.HasPrefix(b, []byte(prefix)) {
			t.Errorf("JSON starts\n%s\nwant\n%s", b[:min(len(b), 300)], prefix)
		}
	}
	for _, s := range []string{`"name": "age",` + "\n      \"kind\": \"numeric\",\n      \"status\": \"drift\"", `"label": "(unseen)"`, `"category": "New Cup `, `"name": "predicted class"`} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("JSON lacks %q", s)
		}
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, res) {
		t.Error("the JSON does not decode to the same result")
	}
	path := t.TempDir() + "/drift.json"
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
}

func TestReferenceIsReusable(t *testing.T) {
	p := basePopulation()
	ref, err := NewReference(p.draw(1, rows), Options{})
	if err != nil {
		t.Fatal(err)
	}
	shifted := basePopulation()
	shifted.ageMean += 5
	a, _ := ref.Compare(shifted.draw(2, rows))
	b, _ := ref.Compare(p.draw(3, rows))
	c, _ := Compare(p.draw(1, rows), shifted.draw(2, rows), Options{})
	if a.Verdict != StatusDrift || b.Verdict != StatusOK || !reflect.DeepEqual(a, c) {
		t.Errorf("verdicts %s, %s; reusing a reference changes nothing: %v", a.Verdict, b.Verdict, reflect.DeepEqual(a, c))
	}
}

func TestKindText(t *testing.T) {
	for _, k := range []Kind{Numeric, Categorical} {
		b, err := k.MarshalText()
		var back Kind
		if err != nil || back.UnmarshalText(b) != nil || back != k {
			t.Errorf("%v: %q %v → %v", k, b, err, back)
		}
	}
	if _, err := Kind(0).MarshalText(); err == nil {
		t.Error("kind 0 encodes")
	}
	var k Kind
	if err := k.UnmarshalText([]byte("ordinal")); err == nil {
		t.Error("unknown kind decodes")
	}
}

func TestBinOfIsSearchFloat64s(t *testing.T) {
	edges := []float64{-3, -1, 0, 0.5, 2, 7, 7.5, 9, 100}
	for n := 0; n <= len(edges); n++ {
		e := edges[:n]
		for _, v := range []float64{-4, -3, -2, -1, -0.5, 0, 0.25, 0.5, 1, 2, 3, 7, 7.25, 7.5, 8, 9, 50, 100, 101, math.Inf(-1), math.Inf(1)} {
			if got, want := binOf(e, v), sort.SearchFloat64s(e, v); got != want {
				t.Errorf("binOf(%v, %g) = %d, want %d", e, v, got, want)
			}
		}
	}
}

func FuzzBinOf(f *testing.F) {
	f.Add(uint8(9), 0.3, int64(1))
	f.Fuzz(func(t *testing.T, n uint8, v float64, seed int64) {
		if v != v {
			return // missing values never reach binOf
		}
		edges := make([]float64, int(n)%MaxBins)
		x := float64(seed%1000) / 7
		for i := range edges {
			x += 1 + float64((seed>>uint(i%60))&3)
			edges[i] = x
		}
		if got, want := binOf(edges, v), sort.SearchFloat64s(edges, v); got != want {
			t.Errorf("binOf(%v, %g) = %d, want %d", edges, v, got, want)
		}
	})
}
