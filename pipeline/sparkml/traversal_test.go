package sparkml

import (
	"errors"
	"math"
	"testing"

	"github.com/datalabhq/datalab/pipeline/forest"
)

// handTree is a three-split tree whose leaves are easy to tell apart:
//
//	0: f0 <= 1.5 ?
//	├─ 1: f1 in {2} (of 4 categories: stored as the left set)
//	│   ├─ 2: leaf [4 0 0]
//	│   └─ 3: leaf [0 4 0]
//	└─ 4: f1 in {0,1,3} (of 4: Spark stores the right set {2})
//	    ├─ 5: leaf [0 0 4]
//	    └─ 6: leaf [1 1 2]
func handTree() forest.Tree {
	leaf := func(s ...float64) forest.Node {
		return forest.Node{Stats: s, Gain: -1, Left: -1, Right: -1, Feature: -1, NumCategories: -1, RawCount: -1}
	}
	return forest.Tree{Weight: 1, Nodes: []forest.Node{
		{Stats: []float64{5, 5, 6}, Left: 1, Right: 4, Feature: 0, Threshold: 1.5, NumCategories: -1, Gain: 0.1},
		{Stats: []float64{4, 4, 0}, Left: 2, Right: 3, Feature: 1, Categories: []float64{2}, NumCategories: 4, Gain: 0.2},
		leaf(4, 0, 0),
		leaf(0, 4, 0),
		{Stats: []float64{1, 1, 6}, Left: 5, Right: 6, Feature: 1, Categories: []float64{0, 1, 3}, NumCategories: 4, Gain: 0.3},
		leaf(0, 0, 4),
		leaf(1, 1, 2),
	}}
}

func TestSparkTraversalHandComputed(t *testing.T) {
	tree := handTree()
	nan := math.NaN()
	cases := []struct {
		name string
		x    []float64
		leaf int
	}{
		{"continuous equal to threshold goes left, category in left set", []float64{1.5, 2}, 2},
		{"known category not in left set goes right", []float64{0, 0}, 3},
		{"NaN continuous goes right; category in stored-right complement", []float64{nan, 1}, 5},
		{"right subtree: category 2 is the stored right set", []float64{9, 2}, 6},
		{"left-set split: NaN category goes right", []float64{0, nan}, 3},
		{"left-set split: unseen index 4 (keep) goes right", []float64{0, 4}, 3},
		{"complement split: NaN category goes left, as Spark's !right.contains", []float64{9, nan}, 5},
		{"complement split: unseen index 4 (keep) goes left", []float64{9, 4}, 5},
		{"complement split: -Inf continuous left", []float64{math.Inf(-1), 3}, 3},
	}
	for _, c := range cases {
		got := tree.Leaf(c.x)
		if got != &tree.Nodes[c.leaf] {
			for i := range tree.Nodes {
				if got == &tree.Nodes[i] {
					t.Errorf("%s: x=%v reached node %d, want %d", c.name, c.x, i, c.leaf)
				}
			}
		}
	}
}

func TestPredictHandComputed(t *testing.T) {
	t1, t2 := handTree(), handTree()
	// A second tree that is a lone leaf with counts [1 0 3].
	t2.Nodes = []forest.Node{{Stats: []float64{1, 0, 3}, Left: -1, Right: -1, Feature: -1, NumCategories: -1}}
	p := &Pipeline{Model: &forest.Model{NumFeatures: 2, NumClasses: 3, Trees: []forest.Tree{t1, t2}}}
	// x reaches leaf 6 ([1 1 2] → .25 .25 .5) and the lone leaf
	// (.25 0 .75): votes .5 .25 1.25, probability .25 .125 .625.
	pred, err := p.Predict([]float64{9, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.25, 0.125, 0.625}
	for c := range want {
		if math.Abs(pred.Probability[c]-want[c]) > 1e-15 {
			t.Fatalf("probability = %v, want %v", pred.Probability, want)
		}
	}
	if pred.Class != 2 {
		t.Fatalf("class = %d, want 2", pred.Class)
	}
	if _, err := p.Predict([]float64{1}); err == nil {
		t.Fatal("a short feature vector was accepted")
	}
}

func TestBucketizerSparkSemantics(t *testing.T) {
	b := NewBucketizer("ArrDelay", "ArrDelayBucket", []float64{math.Inf(-1), -15, 0, 30, math.Inf(1)}, "error")
	for x, want := range map[float64]float64{-100: 0, -15: 1, -0.5: 1, 0: 2, 29.9: 2, 30: 3, 1e9: 3, math.Inf(1): 3, math.Inf(-1): 0} {
		got, err := b.Bucket(x)
		if err != nil || got != want {
			t.Errorf("Bucket(%v) = %v, %v; want %v", x, got, err, want)
		}
	}
	if _, err := b.Bucket(math.NaN()); err == nil {
		t.Error("NaN with handleInvalid=error was accepted")
	}
	b.HandleInvalid = "keep"
	if got, _ := b.Bucket(math.NaN()); got != 4 {
		t.Errorf("NaN with keep = %v, want the extra bucket 4", got)
	}
	finite := NewBucketizer("x", "y", []float64{0, 1, 2}, "keep")
	if _, err := finite.Bucket(2.5); err == nil {
		t.Error("a value above the last split was accepted")
	}
	if got, _ := finite.Bucket(2); got != 1 {
		t.Errorf("the last split goes in the last bucket, got %v", got)
	}
	if got := b.BucketLabel(3); got != "[30.0, Inf]" {
		t.Errorf("BucketLabel(3) = %q", got)
	}
}

func TestStringIndexerHandleInvalid(t *testing.T) {
	for _, c := range []struct {
		handle string
		value  any
		want   float64
		skip   bool
		fail   bool
	}{
		{"error", "b", 1, false, false},
		{"error", "zz", 0, false, true},
		{"error", nil, 0, false, true},
		{"keep", "zz", 3, false, false},
		{"keep", nil, 3, false, false},
		{"skip", "zz", 0, true, false},
		{"skip", nil, 0, true, false},
	} {
		s := NewStringIndexer("in", "out", []string{"a", "b", "c"}, c.handle)
		row := map[string]any{"in": c.value}
		err := s.transform(row)
		switch {
		case c.skip:
			if err == nil || !errors.Is(err, ErrSkipRow) {
				t.Errorf("%s %v: err = %v, want ErrSkipRow", c.handle, c.value, err)
			}
		case c.fail:
			if err == nil || errors.Is(err, ErrSkipRow) {
				t.Errorf("%s %v: err = %v, want a failure", c.handle, c.value, err)
			}
		default:
			if err != nil || row["out"] != c.want {
				t.Errorf("%s %v: out = %v, %v; want %v", c.handle, c.value, row["out"], err, c.want)
			}
		}
	}
}

func TestVectorAssemblerHandleInvalid(t *testing.T) {
	a := NewVectorAssembler([]string{"x", "y"}, "v", "error")
	row := map[string]any{"x": 1.0, "y": nil}
	if err := a.transform(row); err == nil {
		t.Error("null input with error was accepted")
	}
	a.HandleInvalid = "keep"
	if err := a.transform(row); err != nil || !math.IsNaN(row["v"].([]float64)[1]) {
		t.Errorf("keep: %v, %v", row["v"], err)
	}
	a.HandleInvalid = "skip"
	if err := a.transform(row); !errors.Is(err, ErrSkipRow) {
		t.Errorf("skip: %v", err)
	}
}

func TestParseDerivation(t *testing.T) {
	d, err := ParseDerivation("Route=Origin-Dest")
	if err != nil || d.Output != "Route" || d.Sep != "-" || len(d.Inputs) != 2 || d.Inputs[0] != "Origin" || d.Inputs[1] != "Dest" {
		t.Fatalf("ParseDerivation = %+v, %v", d, err)
	}
	row := map[string]any{"Origin": "ATL", "Dest": "SFO"}
	d.apply(row)
	if row["Route"] != "ATL-SFO" {
		t.Fatalf("Route = %v", row["Route"])
	}
	for _, bad := range []string{"", "Route", "Route=Origin", "Route=-Origin-Dest", "R=a-b+c"} {
		if _, err := ParseDerivation(bad); err == nil {
			t.Errorf("ParseDerivation(%q) accepted", bad)
		}
	}
}
