package forest

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

// synthetic returns a reproducible classification problem: nf continuous
// features, 4 classes driven by a few of them plus noise.
func synthetic(n, nf int, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	cols := make([][]float64, nf)
	for f := range cols {
		cols[f] = make([]float64, n)
	}
	labels := make([]float64, n)
	for r := 0; r < n; r++ {
		for f := range cols {
			switch f % 3 {
			case 0:
				cols[f][r] = rng.NormFloat64()
			case 1:
				cols[f][r] = float64(rng.IntN(31) + 1) // day-of-month-like
			default:
				cols[f][r] = math.Round(rng.ExpFloat64() * 500)
			}
		}
		s := cols[0][r] + 0.05*cols[1%nf][r] - 0.002*cols[2%nf][r] + 0.7*rng.NormFloat64()
		switch {
		case s < -1:
			labels[r] = 0
		case s < 0:
			labels[r] = 1
		case s < 1:
			labels[r] = 2
		default:
			labels[r] = 3
		}
	}
	return cols, labels
}

func rowMajor(cols [][]float64) []float64 {
	n := len(cols[0])
	x := make([]float64, n*len(cols))
	for f, c := range cols {
		for r, v := range c {
			x[r*len(cols)+f] = v
		}
	}
	return x
}

func mustFit(t testing.TB, cols [][]float64, labels []float64, p Params, opts ...DatasetOption) *Model {
	t.Helper()
	m, err := Fit(context.Background(), cols, labels, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

// singleTree is a deterministic one-tree configuration: all rows, all
// features.
func singleTree(depth int) Params {
	p := DefaultParams()
	p.NumTrees = 1
	p.MaxDepth = depth
	p.Bootstrap = false
	p.FeatureSubsetStrategy = "all"
	return p
}

func TestTraversal(t *testing.T) {
	// Tree A: x0 <= 1.5 → leaf (3,1); else categorical x1 ∈ {1,3} → leaf (0,2), else leaf (1,1).
	a := Tree{Weight: 1, Nodes: []Node{
		{Feature: 0, Threshold: 1.5, NumCategories: -1, Left: 1, Right: 2, Stats: []float64{4, 4}, Gain: 0.1},
		{Feature: -1, NumCategories: -1, Left: -1, Right: -1, Stats: []float64{3, 1}, Gain: -1},
		{Feature: 1, NumCategories: 4, Categories: []float64{1, 3}, Left: 3, Right: 4, Stats: []float64{1, 3}, Gain: 0.1},
		{Feature: -1, NumCategories: -1, Left: -1, Right: -1, Stats: []float64{0, 2}, Gain: -1},
		{Feature: -1, NumCategories: -1, Left: -1, Right: -1, Stats: []float64{1, 1}, Gain: -1},
	}}
	// Tree B: a single leaf (1,3).
	b := Tree{Weight: 1, Nodes: []Node{{Feature: -1, NumCategories: -1, Left: -1, Right: -1, Stats: []float64{1, 3}, Gain: -1}}}
	m := &Model{NumFeatures: 2, NumClasses: 2, Trees: []Tree{a, b}}
	cases := []struct {
		name string
		x    []float64
		leaf int
		want []float64 // probabilities
	}{
		{"threshold goes left (<=)", []float64{1.5, 0}, 1, []float64{(0.75 + 0.25) / 2, (0.25 + 0.75) / 2}},
		{"above threshold, category in set", []float64{1.6, 3}, 3, []float64{(0 + 0.25) / 2, (1 + 0.75) / 2}},
		{"category not in set", []float64{2, 2}, 4, []float64{(0.5 + 0.25) / 2, (0.5 + 0.75) / 2}},
		{"NaN goes right", []float64{math.NaN(), 1}, 3, []float64{(0 + 0.25) / 2, (1 + 0.75) / 2}},
		{"NaN category is in no set", []float64{5, math.NaN()}, 4, []float64{(0.5 + 0.25) / 2, (0.5 + 0.75) / 2}},
		{"fractional category is in no set", []float64{5, 1.5}, 4, []float64{(0.5 + 0.25) / 2, (0.5 + 0.75) / 2}},
	}
	s, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := a.Leaf(c.x); got != &a.Nodes[c.leaf] {
				t.Fatalf("leaf %v, want node %d", got, c.leaf)
			}
			pred, p := m.Predict(c.x)
			if !approxEqual(p, c.want) {
				t.Fatalf("proba %v, want %v", p, c.want)
			}
			if want := Argmax(c.want); pred != want {
				t.Fatalf("pred %d, want %d", pred, want)
			}
			bp := make([]float64, 2)
			bpred := make([]int32, 1)
			if err := s.PredictBatch(c.x, bpred, bp); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(bp, p) || int(bpred[0]) != pred {
				t.Fatalf("scorer %v/%d, model %v/%d", bp, bpred[0], p, pred)
			}
		})
	}
}

func approxEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			return false
		}
	}
	return true
}

func TestContinuousThresholds(t *testing.T) {
	seq := func(lo, hi int) []float64 {
		var v []float64
		for i := lo; i <= hi; i++ {
			v = append(v, float64(i))
		}
		return v
	}
	cases := []struct {
		name      string
		values    []float64
		weighted  float64
		numSplits int
		want      []float64
	}{
		// 10 distinct values, 3 splits: stride 10/4 = 2.5; the running count
		// is closest to 2.5, 5 and 7.5 (ties keep walking) after 3, 5 and 8.
		{"stride", seq(1, 10), 10, 3, []float64{3.5, 5.5, 8.5}},
		{"few distinct values: all midpoints", []float64{3, 1, 2, 2, 1}, 5, 5, []float64{1.5, 2.5}},
		{"zeros counted from the expected sample size", []float64{0, 0, 0, 1, 2}, 5, 5, []float64{0.5, 1.5}},
		{"zeros missing from a sample still counted", []float64{1, 2}, 5, 5, []float64{0.5, 1.5}},
		{"constant", []float64{4, 4, 4}, 3, 5, nil},
		{"all zero", []float64{0, 0}, 2, 5, nil},
		{"negative values", []float64{-2, -1, 0, 1}, 4, 1, []float64{-0.5}},
		// Heavy value: 1 appears 6 times in 10; stride 10/3. After 1 the
		// count is 6 (target 3.33: the next value only moves further away,
		// so 1.5), after 2 it is 7 (target 6.67: 2.5), and the target 10 is
		// reached only by the last value.
		{"heavy value", []float64{1, 1, 1, 1, 1, 1, 2, 3, 4, 5}, 10, 2, []float64{1.5, 2.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ContinuousThresholds(c.values, c.weighted, c.numSplits)
			if !slices.Equal(got, c.want) {
				t.Fatalf("thresholds %v, want %v", got, c.want)
			}
		})
	}
}

func TestBinOf(t *testing.T) {
	thr := []float64{1.5, 2.5}
	for _, c := range []struct {
		x    float64
		want int
	}{{math.Inf(-1), 0}, {1.5, 0}, {1.6, 1}, {2.5, 1}, {3, 2}, {math.Inf(1), 2}, {math.NaN(), 2}} {
		if got := binOf(thr, c.x); got != c.want {
			t.Errorf("binOf(%v) = %d, want %d", c.x, got, c.want)
		}
	}
	if got := binOf(nil, 7); got != 0 {
		t.Errorf("binOf on no thresholds = %d, want 0", got)
	}
}

func TestDatasetBinsMatchThresholds(t *testing.T) {
	cols, labels := synthetic(50000, 3, 7)
	p := DefaultParams()
	ds, err := NewDataset(cols, labels, p)
	if err != nil {
		t.Fatal(err)
	}
	for f := 0; f < 3; f++ {
		thr := ds.Thresholds(f)
		if len(thr) == 0 || len(thr) > p.MaxBins-1 {
			t.Fatalf("feature %d: %d thresholds, want 1..%d", f, len(thr), p.MaxBins-1)
		}
		if !slices.IsSorted(thr) {
			t.Fatalf("feature %d thresholds not sorted: %v", f, thr)
		}
		for r := 0; r < 1000; r++ {
			b := ds.Bin(f, r)
			x := cols[f][r]
			if (b < len(thr) && !(x <= thr[b])) || (b > 0 && !(x > thr[b-1])) {
				t.Fatalf("feature %d row %d: value %v in bin %d, thresholds %v", f, r, x, b, thr)
			}
		}
	}
	// Feature 1 has 31 distinct values and maxBins 32: every midpoint. The
	// 50,000 rows are sampled (fraction 10000/50000) and, as in Spark, when
	// the Bernoulli sample falls short of its expected size the shortfall is
	// counted as zeros, which adds the threshold 0.5 below the smallest value.
	thr := ds.Thresholds(1)
	if len(thr) > 0 && thr[0] == 0.5 {
		thr = thr[1:]
	}
	if len(thr) != 30 || thr[0] != 1.5 || thr[29] != 30.5 {
		t.Fatalf("day-like feature thresholds %v, want the 30 midpoints 1.5..30.5", thr)
	}
}

func TestPoissonBootstrap(t *testing.T) {
	for _, lambda := range []float64{1, 0.5} {
		table := poissonTable(lambda)
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 400000
		hist := make([]int, 12)
		sum, sq := 0.0, 0.0
		for i := 0; i < n; i++ {
			k := poissonDraw(table, rng.Uint64())
			hist[min(int(k), len(hist)-1)]++
			sum += float64(k)
			sq += float64(k) * float64(k)
		}
		mean := sum / n
		variance := sq/n - mean*mean
		if math.Abs(mean-lambda) > 0.01 || math.Abs(variance-lambda) > 0.015 {
			t.Errorf("Poisson(%v): mean %.4f variance %.4f", lambda, mean, variance)
		}
		pmf := math.Exp(-lambda)
		for k := 0; k < 5; k++ {
			got := float64(hist[k]) / n
			if math.Abs(got-pmf) > 0.004 {
				t.Errorf("Poisson(%v): P(%d) = %.4f, want %.4f", lambda, k, got, pmf)
			}
			pmf *= lambda / float64(k+1)
		}
	}
	// Extremes of the table: u = 0 draws 0, the largest u draws the tail.
	table := poissonTable(1)
	if poissonDraw(table, 0) != 0 || poissonDraw(table, math.MaxUint64) < 10 {
		t.Errorf("table ends: %d %d", poissonDraw(table, 0), poissonDraw(table, math.MaxUint64))
	}
}

func TestBootstrapRootCounts(t *testing.T) {
	// With bootstrap, the root's raw count is the sum of the Poisson(1)
	// weights: about n, and different per tree.
	cols, labels := synthetic(20000, 3, 3)
	p := DefaultParams()
	p.NumTrees = 4
	m := mustFit(t, cols, labels, p)
	seen := map[int64]bool{}
	for _, tr := range m.Trees {
		rc := tr.Nodes[0].RawCount
		if math.Abs(float64(rc)-20000) > 5*math.Sqrt(20000) {
			t.Fatalf("root raw count %d, want ≈ 20000", rc)
		}
		seen[rc] = true
	}
	if len(seen) < 2 {
		t.Fatalf("all trees drew the same bootstrap weight total")
	}
	// Without bootstrap and subsampling, the root holds every row once.
	p.Bootstrap = false
	m = mustFit(t, cols, labels, p)
	if rc := m.Trees[0].Nodes[0].RawCount; rc != 20000 {
		t.Fatalf("no bootstrap: root raw count %d, want 20000", rc)
	}
}

func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	cols, labels := synthetic(30000, 6, 11)
	p := DefaultParams()
	p.NumTrees = 7
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var models []*Model
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		models = append(models, mustFit(t, cols, labels, p))
	}
	for i := 1; i < len(models); i++ {
		if !reflect.DeepEqual(models[0], models[i]) {
			t.Fatalf("model trained with GOMAXPROCS=%d differs from GOMAXPROCS=1", i+1)
		}
	}
	p.Seed++
	other := mustFit(t, cols, labels, p)
	if reflect.DeepEqual(models[0].Trees, other.Trees) {
		t.Fatalf("a different seed gave the same trees")
	}
}

func TestFeatureImportances(t *testing.T) {
	cols, labels := synthetic(30000, 6, 5)
	m := mustFit(t, cols, labels, DefaultParams())
	imp := m.FeatureImportances()
	if len(imp) != 6 {
		t.Fatalf("%d importances, want 6", len(imp))
	}
	sum := 0.0
	for _, v := range imp {
		if v < 0 {
			t.Fatalf("negative importance %v", imp)
		}
		sum += v
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Fatalf("importances sum to %v: %v", sum, imp)
	}
	// Feature 0 drives the label.
	if Argmax(imp) != 0 {
		t.Fatalf("feature 0 should be most important: %v", imp)
	}
	// A model without splits has all-zero importances.
	stump := &Model{NumFeatures: 2, NumClasses: 2, Trees: []Tree{{Nodes: []Node{{Left: -1, Right: -1, Feature: -1, Stats: []float64{1, 1}}}}}}
	if got := stump.FeatureImportances(); !slices.Equal(got, []float64{0, 0}) {
		t.Fatalf("stump importances %v", got)
	}
}

func TestFeatureImportancesHandComputed(t *testing.T) {
	// Tree 1: root on f0 gain 0.5 count 10, child on f1 gain 0.2 count 5
	// → (5, 1)/6. Tree 2: root on f1 → (0, 1). Average (5/12, 7/12).
	leaf := Node{Left: -1, Right: -1, Feature: -1, NumCategories: -1, Stats: []float64{1, 1}}
	t1 := Tree{Nodes: []Node{
		{Feature: 0, Gain: 0.5, Left: 1, Right: 2, NumCategories: -1, Stats: []float64{5, 5}},
		leaf,
		{Feature: 1, Gain: 0.2, Left: 3, Right: 4, NumCategories: -1, Stats: []float64{2, 3}},
		leaf, leaf,
	}}
	t2 := Tree{Nodes: []Node{{Feature: 1, Gain: 0.3, Left: 1, Right: 2, NumCategories: -1, Stats: []float64{4, 4}}, leaf, leaf}}
	m := &Model{NumFeatures: 3, NumClasses: 2, Trees: []Tree{t1, t2}}
	if got := m.FeatureImportances(); !approxEqual(got, []float64{5.0 / 12, 7.0 / 12, 0}) {
		t.Fatalf("importances %v", got)
	}
}

func TestKnownBestSplit(t *testing.T) {
	// Feature 1 separates the classes at 3/4; feature 0 is noise.
	cols := [][]float64{{5, 1, 4, 2, 6, 3}, {1, 2, 3, 4, 5, 6}}
	labels := []float64{0, 0, 0, 1, 1, 1}
	m := mustFit(t, cols, labels, singleTree(5))
	nodes := m.Trees[0].Nodes
	if len(nodes) != 3 {
		t.Fatalf("%d nodes, want root + 2 leaves: %+v", len(nodes), nodes)
	}
	root := nodes[0]
	if root.Feature != 1 || root.Threshold != 3.5 || root.NumCategories != -1 {
		t.Fatalf("root split feature %d threshold %v, want feature 1 <= 3.5", root.Feature, root.Threshold)
	}
	if root.Gain != 0.5 || root.Impurity != 0.5 || !slices.Equal(root.Stats, []float64{3, 3}) || root.RawCount != 6 {
		t.Fatalf("root %+v", root)
	}
	l, r := nodes[root.Left], nodes[root.Right]
	if root.Left != 1 || l.Prediction != 0 || r.Prediction != 1 || l.Impurity != 0 || r.Gain != -1 ||
		!slices.Equal(l.Stats, []float64{3, 0}) || !slices.Equal(r.Stats, []float64{0, 3}) {
		t.Fatalf("children %+v %+v", l, r)
	}
	// Entropy: the same split with gain 1 bit.
	p := singleTree(5)
	p.Impurity = "entropy"
	m = mustFit(t, cols, labels, p)
	if g := m.Trees[0].Nodes[0].Gain; g != 1 {
		t.Fatalf("entropy gain %v, want 1", g)
	}
}

func TestPruneSameLeafPredictions(t *testing.T) {
	// Depth 1: the best split gives children (6,0) and (1,1), both predicting
	// class 0, so Spark's pruning collapses the root into a leaf.
	cols := [][]float64{{1, 2, 3, 4, 5, 6, 7, 8}}
	labels := []float64{0, 0, 0, 0, 0, 0, 1, 0}
	m := mustFit(t, cols, labels, singleTree(1))
	nodes := m.Trees[0].Nodes
	if len(nodes) != 1 || !nodes[0].IsLeaf() || nodes[0].Prediction != 0 || !slices.Equal(nodes[0].Stats, []float64{7, 1}) {
		t.Fatalf("want one pruned leaf with counts (7,1), got %+v", nodes)
	}
	if nodes[0].Impurity != 1-(7.0/8)*(7.0/8)-(1.0/8)*(1.0/8) || nodes[0].Gain != -1 || nodes[0].Feature != -1 {
		t.Fatalf("pruned leaf fields %+v", nodes[0])
	}
}

func TestMinInstancesPerNodeInvalidLeaf(t *testing.T) {
	// No split leaves 3 rows on each side: the root is a leaf, and Spark
	// marks a node whose search found no valid split with impurity −1.
	cols := [][]float64{{1, 2, 3, 4}}
	labels := []float64{0, 0, 1, 1}
	p := singleTree(3)
	p.MinInstancesPerNode = 3
	m := mustFit(t, cols, labels, p)
	if n := m.Trees[0].Nodes; len(n) != 1 || n[0].Impurity != -1 {
		t.Fatalf("want a single leaf with impurity -1, got %+v", n)
	}
	p.MinInstancesPerNode = 2
	if n := mustFit(t, cols, labels, p).Trees[0].Nodes; len(n) != 3 {
		t.Fatalf("minInstancesPerNode 2 allows the 2/2 split, got %+v", n)
	}
	p.MinInstancesPerNode = 1
	p.MinInfoGain = 0.6 // the perfect split gains 0.5
	if n := mustFit(t, cols, labels, p).Trees[0].Nodes; len(n) != 1 {
		t.Fatalf("minInfoGain 0.6 forbids the split, got %+v", n)
	}
	p.MinInfoGain = 0
	p.MinWeightFractionPerNode = 0.3 // each side needs 1.2 of 4 rows
	if n := mustFit(t, cols, labels, p).Trees[0].Nodes; len(n) != 3 || n[0].Threshold != 2.5 {
		t.Fatalf("minWeightFractionPerNode 0.3 allows the 2/2 split, got %+v", n)
	}
}

func TestCategoricalUnorderedSubsetSearch(t *testing.T) {
	// 3 classes, arity 3 (low arity: all subsets). Category c holds class c;
	// category 0 has 10 rows, the others 5. Best root split: {0} | {1,2}
	// (gain 0.375, against 0.2917 for {1} or {2}); then {1} | {2}.
	var col, labels []float64
	for i := 0; i < 10; i++ {
		col, labels = append(col, 0), append(labels, 0)
	}
	for i := 0; i < 5; i++ {
		col, labels = append(col, 1), append(labels, 1)
		col, labels = append(col, 2), append(labels, 2)
	}
	p := singleTree(2)
	p.CategoricalFeatures = map[int]int{0: 3}
	ds, err := NewDataset([][]float64{col}, labels, p)
	if err != nil {
		t.Fatal(err)
	}
	if !ds.unordered[0] {
		t.Fatalf("arity 3 with 3 classes should be searched over subsets")
	}
	m, err := Train(context.Background(), ds, p)
	if err != nil {
		t.Fatal(err)
	}
	n := m.Trees[0].Nodes
	if len(n) != 5 {
		t.Fatalf("want 5 nodes, got %+v", n)
	}
	if n[0].NumCategories != 3 || !slices.Equal(n[0].Categories, []float64{0}) || math.Abs(n[0].Gain-0.375) > 1e-12 {
		t.Fatalf("root %+v, want categories {0} gain 0.375", n[0])
	}
	right := n[n[0].Right]
	if !slices.Equal(right.Categories, []float64{1}) || right.Gain != 0.5 {
		t.Fatalf("right child %+v, want categories {1} gain 0.5", right)
	}
	for x, want := range []int{0, 1, 2} {
		if got, _ := m.Predict([]float64{float64(x)}); got != want {
			t.Errorf("category %d predicted %d, want %d", x, got, want)
		}
	}
}

func TestCategoricalOrderedBinaryCentroid(t *testing.T) {
	// Binary: categories ordered by their count of class 1 (cat 1: 0,
	// cat 3: 1, cat 0: 4, cat 2: 5), so the best split {1,3} | {0,2} is not
	// a range of category ids.
	ones := []int{4, 0, 5, 1}
	var col, labels []float64
	for cat, k := range ones {
		for i := 0; i < 5; i++ {
			col = append(col, float64(cat))
			labels = append(labels, float64(b2i(i < k)))
		}
	}
	p := singleTree(1)
	p.CategoricalFeatures = map[int]int{0: 4}
	m := mustFit(t, [][]float64{col}, labels, p)
	root := m.Trees[0].Nodes[0]
	if !slices.Equal(root.Categories, []float64{1, 3}) || root.NumCategories != 4 || math.Abs(root.Gain-0.32) > 1e-12 {
		t.Fatalf("root %+v, want categories {1,3} gain 0.32", root)
	}
}

func TestCategoricalOrderedMulticlassCentroid(t *testing.T) {
	// 3 classes with maxBins 4: arity 3 exceeds the subset-search bound
	// (floor(log2(4/2+1))+1 = 2), so categories are ordered by impurity:
	// cat 0 (6×class 0) 0, cat 2 (5×class 0, 1×class 1) 0.278,
	// cat 1 (3×class 1, 3×class 2) 0.5. Best split {0,2} | {1}.
	var col, labels []float64
	add := func(cat, class, k int) {
		for i := 0; i < k; i++ {
			col, labels = append(col, float64(cat)), append(labels, float64(class))
		}
	}
	add(0, 0, 6)
	add(2, 0, 5)
	add(2, 1, 1)
	add(1, 1, 3)
	add(1, 2, 3)
	p := singleTree(1)
	p.MaxBins = 4
	p.CategoricalFeatures = map[int]int{0: 3}
	ds, err := NewDataset([][]float64{col}, labels, p)
	if err != nil {
		t.Fatal(err)
	}
	if ds.unordered[0] {
		t.Fatalf("arity 3 with maxBins 4 should use centroid ordering")
	}
	m, err := Train(context.Background(), ds, p)
	if err != nil {
		t.Fatal(err)
	}
	root := m.Trees[0].Nodes[0]
	parent := 1 - (121.0+16+9)/324
	want := parent - (12.0/18)*(1-(121.0+1)/144) - (6.0/18)*0.5
	if !slices.Equal(root.Categories, []float64{0, 2}) || math.Abs(root.Gain-want) > 1e-12 {
		t.Fatalf("root %+v, want categories {0,2} gain %v", root, want)
	}
}

func TestCategoricalArityMustFitMaxBins(t *testing.T) {
	p := DefaultParams()
	p.MaxBins = 4
	p.CategoricalFeatures = map[int]int{0: 5}
	_, err := NewDataset([][]float64{{0, 1, 2, 3, 4}}, []float64{0, 1, 0, 1, 0}, p)
	if err == nil {
		t.Fatal("arity 5 with maxBins 4 accepted")
	}
	p.MaxBins = 8
	_, err = NewDataset([][]float64{{0, 1, 2, 3, 7}}, []float64{0, 1, 0, 1, 0}, p)
	if err == nil {
		t.Fatal("category 7 of a 5-category feature accepted")
	}
}

func TestFeaturesPerNode(t *testing.T) {
	for _, c := range []struct {
		strategy string
		trees    int
		nf, want int
	}{
		{"auto", 20, 8, 3}, {"auto", 1, 8, 8}, {"all", 20, 8, 8}, {"sqrt", 20, 9, 3},
		{"log2", 20, 8, 3}, {"log2", 20, 1, 1}, {"onethird", 20, 8, 3}, {"5", 20, 8, 5},
		{"50", 20, 8, 8}, {"0.5", 20, 9, 5}, {"1.0", 20, 8, 8}, {"SQRT", 20, 16, 4},
	} {
		p := DefaultParams()
		p.NumTrees = c.trees
		p.FeatureSubsetStrategy = c.strategy
		got, err := p.FeaturesPerNode(c.nf)
		if err != nil || got != c.want {
			t.Errorf("%s with %d trees, %d features: %d (%v), want %d", c.strategy, c.trees, c.nf, got, err, c.want)
		}
	}
	for _, bad := range []string{"half", "0", "1.5", "-2"} {
		p := DefaultParams()
		p.FeatureSubsetStrategy = bad
		if _, err := p.FeaturesPerNode(8); err == nil {
			t.Errorf("strategy %q accepted", bad)
		}
	}
}

func TestSparkDefaultSeed(t *testing.T) {
	if h := JavaStringHashCode("hello"); h != 99162322 {
		t.Fatalf(`"hello".hashCode = %d, want 99162322`, h)
	}
	if SparkDefaultSeed != 207336481 || DefaultParams().Seed != SparkDefaultSeed {
		t.Fatalf("default seed %d", SparkDefaultSeed)
	}
}

func TestTreeShapeSparkFields(t *testing.T) {
	cols, labels := synthetic(20000, 4, 9)
	p := DefaultParams()
	p.NumTrees = 5
	m := mustFit(t, cols, labels, p)
	if m.NumFeatures != 4 || m.NumClasses != 4 || len(m.Trees) != 5 {
		t.Fatalf("model shape %d features %d classes %d trees", m.NumFeatures, m.NumClasses, len(m.Trees))
	}
	for ti, tr := range m.Trees {
		if tr.Depth() > p.MaxDepth || tr.Weight != 1 {
			t.Fatalf("tree %d depth %d weight %v", ti, tr.Depth(), tr.Weight)
		}
		for i, n := range tr.Nodes {
			sum := 0.0
			for _, s := range n.Stats {
				sum += s
			}
			if n.RawCount != int64(sum) || n.Prediction != float64(argmaxCounts(n.Stats)) {
				t.Fatalf("tree %d node %d: rawCount %d stats %v prediction %v", ti, i, n.RawCount, n.Stats, n.Prediction)
			}
			if n.IsLeaf() {
				if n.Gain != -1 || n.Feature != -1 || n.NumCategories != -1 || n.Right != -1 {
					t.Fatalf("tree %d leaf %d fields %+v", ti, i, n)
				}
				continue
			}
			if n.Left != int32(i+1) || n.Gain <= 0 {
				t.Fatalf("tree %d node %d not pre-order or no gain: %+v", ti, i, n)
			}
			l, r := tr.Nodes[n.Left], tr.Nodes[n.Right]
			for c := range n.Stats {
				if l.Stats[c]+r.Stats[c] != n.Stats[c] {
					t.Fatalf("tree %d node %d: children counts do not add up", ti, i)
				}
			}
			if l.IsLeaf() && r.IsLeaf() && l.Prediction == r.Prediction {
				t.Fatalf("tree %d node %d: unpruned sibling leaves", ti, i)
			}
		}
	}
}

// TestScorerMatchesModel: the compiled scorer, batch and one row at a
// time, gives bit for bit the class and probabilities of the reference
// walk over Model's nodes, in both layouts (complete trees; pre-order flat
// nodes with continuous and categorical splits), NaN values included.
func TestScorerMatchesModel(t *testing.T) {
	cols, labels := synthetic(20000, 5, 21)
	// Feature 4 as a categorical feature with 6 categories, with deep trees
	// so both scorer layouts are exercised.
	for r := range cols[4] {
		cols[4][r] = float64(int(labels[r]+float64(r%3)) % 6)
	}
	var models []*Model
	for _, p := range []Params{DefaultParams(), func() Params {
		p := DefaultParams()
		p.MaxDepth = 12
		p.NumTrees = 3
		p.CategoricalFeatures = map[int]int{4: 6}
		return p
	}(), func() Params {
		// Deeper than the complete layout takes, continuous only: the
		// served match model's shape, walked eight trees at a time.
		p := DefaultParams()
		p.MaxDepth = 14
		p.NumTrees = 10
		p.MinInstancesPerNode = 5
		return p
	}()} {
		models = append(models, mustFit(t, cols, labels, p))
	}
	// And one forest mixing the three kinds of tree, so that runs of
	// deep continuous trees are broken up at various places.
	shallow, categorical, deep := models[0].Trees, models[1].Trees, models[2].Trees
	mixed := &Model{NumFeatures: 5, NumClasses: 4, Trees: slices.Concat(deep[:3], shallow[:1], deep[3:8], categorical[:1],
		deep[8:10], shallow[1:2], deep[:4], categorical[1:])}
	models = append(models, mixed)
	for mi, m := range models {
		s, err := m.Compile()
		if err != nil {
			t.Fatal(err)
		}
		for i, ct := range s.trees {
			if mi == 2 && (ct.complete || ct.categorical) {
				t.Fatalf("deep continuous tree %d is not in the layout walkN takes", i)
			}
		}
		x := rowMajor(cols)
		for i := 0; i < len(x); i += 97 {
			x[i] = math.NaN()
		}
		rows := len(labels)
		pred := make([]int32, rows)
		proba := make([]float64, rows*4)
		if err := m.PredictBatch(x, pred, proba); err != nil {
			t.Fatal(err)
		}
		one := make([]float64, 4)
		for r := 0; r < rows; r++ {
			wp, wprob := m.Predict(x[r*5 : r*5+5])
			if int(pred[r]) != wp || !bitsEqual(proba[r*4:r*4+4], wprob) {
				t.Fatalf("model %d row %d: scorer %d %v, model %d %v", mi, r, pred[r], proba[r*4:r*4+4], wp, wprob)
			}
			c, err := s.Predict(x[r*5:r*5+5], one)
			if err != nil {
				t.Fatal(err)
			}
			if c != wp || !bitsEqual(one, wprob) {
				t.Fatalf("model %d row %d: Scorer.Predict %d %v, model %d %v", mi, r, c, one, wp, wprob)
			}
		}
	}
}

// bitsEqual compares float slices bit for bit (NaN equals NaN).
func bitsEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

func TestScorerPredictChecksLengths(t *testing.T) {
	cols, labels := synthetic(500, 3, 2)
	m := mustFit(t, cols, labels, singleTree(3))
	s, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Predict(make([]float64, 2), make([]float64, 4)); err == nil {
		t.Error("a row of 2 values for 3 features was scored")
	}
	if _, err := s.Predict(make([]float64, 3), make([]float64, 3)); err == nil {
		t.Error("3 probabilities for 4 classes accepted")
	}
}

func TestTrainRejectsMismatchedDataset(t *testing.T) {
	cols, labels := synthetic(1000, 2, 1)
	p := DefaultParams()
	ds, err := NewDataset(cols, labels, p)
	if err != nil {
		t.Fatal(err)
	}
	p.MaxBins = 16
	if _, err := Train(context.Background(), ds, p); err == nil {
		t.Fatal("dataset binned with maxBins 32 accepted for maxBins 16")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, ds, DefaultParams()); err == nil {
		t.Fatal("cancelled context not reported")
	}
}

func BenchmarkFit(b *testing.B) {
	cols, labels := synthetic(300000, 8, 1)
	p := DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit(context.Background(), cols, labels, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(labels))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkTrainBinned(b *testing.B) {
	cols, labels := synthetic(300000, 8, 1)
	p := DefaultParams()
	ds, err := NewDataset(cols, labels, p)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Train(context.Background(), ds, p); err != nil {
			b.Fatal(err)
		}
	}
}

// fitScorer fits a forest and compiles it.
func fitScorer(tb testing.TB, cols [][]float64, labels []float64, p Params) (*Model, *Scorer) {
	tb.Helper()
	m, err := Fit(context.Background(), cols, labels, p)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := m.Compile()
	if err != nil {
		tb.Fatal(err)
	}
	return m, s
}

func BenchmarkPredictBatch(b *testing.B) {
	cols, labels := synthetic(300000, 8, 1)
	_, s := fitScorer(b, cols, labels, DefaultParams())
	x := rowMajor(cols)
	pred := make([]int32, len(labels))
	proba := make([]float64, len(labels)*4)
	for b.Loop() {
		if err := s.PredictBatch(x, pred, proba); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(labels))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkScorerPredict scores one row at a time, as a web app does, on a
// forest shaped like the served match model (300 trees, depth up to 14,
// 3 classes, ~300,000 nodes: larger than the CPU caches), cycling over
// different rows so that each call walks other paths.
func BenchmarkScorerPredict(b *testing.B) {
	cols, labels := synthetic(30000, 25, 3)
	for r := range labels {
		labels[r] = min(labels[r], 2)
	}
	p := DefaultParams()
	p.NumTrees = 300
	p.MaxDepth = 14
	p.MinInstancesPerNode = 20
	p.FeatureSubsetStrategy = "onethird"
	m, s := fitScorer(b, cols, labels, p)
	x := rowMajor(cols)
	proba := make([]float64, 3)
	b.ReportAllocs()
	r := 0
	for b.Loop() {
		if _, err := s.Predict(x[r*25:r*25+25], proba); err != nil {
			b.Fatal(err)
		}
		r = (r + 7919) % len(labels)
	}
	b.ReportMetric(float64(m.NumNodes()), "nodes")
}

// When more than half of a split's categories go left, Spark keeps the
// right-hand set, so a value that is no category (NaN, an unseen label's
// index under handleInvalid "keep") goes left. Node.GoLeft and the compiled
// scorer must both follow that rule.
func TestTraversalComplementCategories(t *testing.T) {
	tree := Tree{Weight: 1, Nodes: []Node{
		{Feature: 0, NumCategories: 4, Categories: []float64{0, 1, 3}, Left: 1, Right: 2, Stats: []float64{2, 2}, Gain: 0.1},
		{Feature: -1, NumCategories: -1, Left: -1, Right: -1, Stats: []float64{2, 0}, Gain: -1},
		{Feature: -1, NumCategories: -1, Left: -1, Right: -1, Stats: []float64{0, 2}, Gain: -1},
	}}
	m := &Model{NumFeatures: 1, NumClasses: 2, Trees: []Tree{tree}}
	s, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x    float64
		left bool
	}{{0, true}, {1, true}, {3, true}, {2, false}, {math.NaN(), true}, {4, true}, {1.5, true}, {-1, true}} {
		if got := tree.Nodes[0].GoLeft(c.x); got != c.left {
			t.Errorf("GoLeft(%v) = %v, want %v", c.x, got, c.left)
		}
		pred := make([]int32, 1)
		if err := s.PredictBatch([]float64{c.x}, pred, make([]float64, 2)); err != nil {
			t.Fatal(err)
		}
		if wantPred := map[bool]int32{true: 0, false: 1}[c.left]; pred[0] != wantPred {
			t.Errorf("scorer on %v predicts %d, want %d", c.x, pred[0], wantPred)
		}
	}
}
