package flightfeat

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// Column names of the stages' outputs, as in the course's Spark job.
const (
	// LabelCol is the label stage's output.
	LabelCol = "ArrDelayBucket"
	// FeaturesCol is the VectorAssembler's output.
	FeaturesCol = "Features_vec"
	// IndexSuffix names a StringIndexer's output: Carrier → Carrier_index.
	IndexSuffix = "_index"
)

// DelaySplits are the seed's Bucketizer splits on ArrDelay.
var DelaySplits = []float64{math.Inf(-1), -15, 0, 30, math.Inf(1)}

// ClassNames name the four delay buckets in class order (the seed's web
// page labels them "Early (15+ Minutes Early)", "Slightly Early (0-15
// Minute Early)", "Slightly Late (0-30 Minute Delay)", "Very Late (30+
// Minutes Late)").
var ClassNames = []string{"early_15+", "early_0-15", "late_0-30", "late_30+"}

// SeedFeatures is the seed's VectorAssembler input order.
var SeedFeatures = []string{ColDepDelay, ColDistance, ColDayOfMonth, ColDayOfWeek, ColDayOfYear,
	ColCarrier + IndexSuffix, ColOrigin + IndexSuffix, ColDest + IndexSuffix, ColRoute + IndexSuffix}

// LabelBucketizer is the seed's label stage: ArrDelay → ArrDelayBucket with
// splits [-inf, -15, 0, 30, +inf]. handleInvalid is "error": a flight
// without an arrival delay has no label (ingest quarantines those rows).
func LabelBucketizer() *sparkml.Bucketizer {
	return sparkml.NewBucketizer(ColArrDelay, LabelCol, DelaySplits, "error")
}

// Labels buckets the ArrDelay of the given rows with the label stage.
func Labels(t *Table, rows []int) ([]float64, error) {
	b := LabelBucketizer()
	arr := t.Num[ColArrDelay]
	out := make([]float64, len(rows))
	for k, i := range rows {
		y, err := b.Bucket(arr[i])
		if err != nil {
			return nil, fmt.Errorf("row %d: ArrDelay %v: %w", i, arr[i], err)
		}
		out[k] = y
	}
	return out, nil
}

// Split is a seeded random train/test split of row indexes; both lists
// are in increasing row order.
type Split struct {
	Train, Test []int
	// Seed and TestFraction reproduce the split.
	Seed         uint64
	TestFraction float64
}

// RandomSplit shuffles 0..n-1 with a PCG stream seeded by seed (math/rand/v2,
// PCG(seed, 0)) and puts the first round(n·testFraction) rows of the
// permutation in the test set. The same (n, testFraction, seed) always give
// the same split.
func RandomSplit(n int, testFraction float64, seed uint64) (Split, error) {
	if !(testFraction > 0 && testFraction < 1) {
		return Split{}, fmt.Errorf("test fraction %v: want a value in (0, 1)", testFraction)
	}
	perm := rand.New(rand.NewPCG(seed, 0)).Perm(n)
	nTest := int(math.Round(float64(n) * testFraction))
	// The first nTest of the permutation are the test rows; both sides in
	// ascending order, by one pass over a membership mask (sorting 3M
	// indexes cost a third of a second).
	test := make([]bool, n)
	for _, i := range perm[:nTest] {
		test[i] = true
	}
	s := Split{Test: make([]int, 0, nTest), Train: make([]int, 0, n-nTest), Seed: seed, TestFraction: testFraction}
	for i, t := range test {
		if t {
			s.Test = append(s.Test, i)
		} else {
			s.Train = append(s.Train, i)
		}
	}
	return s, nil
}

// FitStringIndexer fits a single-column StringIndexer on the given rows of
// string column col as Spark's StringIndexer does with stringOrderType
// frequencyDesc: labels by descending count, ties in ascending (byte)
// order of the label; nulls are not labels. handleInvalid is "keep":
// unseen values and nulls get index len(labels).
func FitStringIndexer(t *Table, col string, rows []int) (*sparkml.StringIndexer, error) {
	codes, ok := t.Str[col]
	if !ok {
		return nil, fmt.Errorf("no string column %q", col)
	}
	counts := map[int32]int{}
	for _, i := range rows {
		if c := codes[i]; c >= 0 {
			counts[c]++
		}
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("column %s has no values in the %d training rows: leave it out of the feature set", col, len(rows))
	}
	type lc struct {
		label string
		n     int
	}
	ls := make([]lc, 0, len(counts))
	for c, n := range counts {
		ls = append(ls, lc{t.Dict[c], n})
	}
	slices.SortFunc(ls, func(a, b lc) int {
		if a.n != b.n {
			return cmp.Compare(b.n, a.n)
		}
		return cmp.Compare(a.label, b.label)
	})
	labels := make([]string, len(ls))
	for i, l := range ls {
		labels[i] = l.label
	}
	return sparkml.NewStringIndexer(col, col+IndexSuffix, labels, "keep"), nil
}

// Stages are the fitted feature stages of one feature set: a StringIndexer
// per string column and the VectorAssembler, in the order a Spark
// PipelineModel applies them.
type Stages struct {
	// Features names the assembled features in vector order.
	Features []string
	// Indexers maps a string column to its fitted indexer.
	Indexers map[string]*sparkml.StringIndexer
	// List is the stage list for sparkml.NewPipeline.
	List []sparkml.Stage
}

// FitStages fits the stages that turn raw rows into the vector of features
// (raw numeric column names and "<string column>_index" names, in vector
// order) on the training rows. The VectorAssembler's handleInvalid is
// "keep": a missing number (e.g. a Distance neither the source nor the
// distance table knows) becomes NaN, which the forest sends right at a
// continuous split, instead of failing the request.
func FitStages(t *Table, train []int, features []string) (*Stages, error) {
	if len(features) == 0 {
		return nil, fmt.Errorf("empty feature set")
	}
	s := &Stages{Features: slices.Clone(features), Indexers: map[string]*sparkml.StringIndexer{}}
	for _, f := range features {
		if col, ok := indexedColumn(f); ok {
			si, err := FitStringIndexer(t, col, train)
			if err != nil {
				return nil, err
			}
			s.Indexers[col] = si
			s.List = append(s.List, si)
			continue
		}
		if _, ok := t.Num[f]; !ok || f == ColArrDelay {
			return nil, fmt.Errorf("feature %q: want one of %v or <%v>%s", f, NumericColumns, StringColumns, IndexSuffix)
		}
	}
	s.List = append(s.List, sparkml.NewVectorAssembler(s.Features, FeaturesCol, "keep"))
	return s, nil
}

// indexedColumn returns the string column behind an index feature name.
func indexedColumn(feature string) (string, bool) {
	for _, c := range StringColumns {
		if feature == c+IndexSuffix {
			return c, true
		}
	}
	return "", false
}

// Columns builds the feature columns (columns[f][k] for rows[k]) of the
// given rows with the fitted stages, directly from the table. It computes
// exactly what Transform of the saved pipeline computes from the raw row
// (tested), without a map per row.
func (s *Stages) Columns(t *Table, rows []int) [][]float64 {
	cols := make([][]float64, len(s.Features))
	for f, name := range s.Features {
		col := make([]float64, len(rows))
		if sc, ok := indexedColumn(name); ok {
			si := s.Indexers[sc]
			byCode := make([]float64, len(t.Dict))
			unseen := float64(len(si.Labels[0]))
			for c := range byCode {
				byCode[c] = unseen
			}
			for j, l := range si.Labels[0] {
				if c, ok := t.codes[l]; ok {
					byCode[c] = float64(j)
				}
			}
			codes := t.Str[sc]
			for k, i := range rows {
				if c := codes[i]; c >= 0 {
					col[k] = byCode[c]
				} else {
					col[k] = unseen
				}
			}
		} else {
			src := t.Num[name]
			for k, i := range rows {
				col[k] = src[i]
			}
		}
		cols[f] = col
	}
	return cols
}

// CategoricalArity maps each index feature's position to its nominal arity
// (labels + 1 for the keep bucket), what Spark's RandomForest reads from
// the StringIndexer's column metadata.
func (s *Stages) CategoricalArity() map[int]int {
	out := map[int]int{}
	for f, name := range s.Features {
		if sc, ok := indexedColumn(name); ok {
			out[f] = s.Indexers[sc].NumIndices(0)
		}
	}
	return out
}
