// Package drift compares the features of served requests with a reference
// sample — the training data of the model version that served them — as
// Evidently does: a population stability index (PSI) per feature, the
// reference and current mean and share of missing values of numeric
// features, the share of current rows whose category the reference never
// has, and the PSI of the predicted-class distribution. Each feature gets a
// status (ok, warn, drift) from configurable thresholds and the comparison an
// overall verdict; below a minimum row count the verdict is "too few rows"
// rather than a false alarm.
//
// It sits after serving in datalab's one-way flow: the apps log what they
// served (matches/predlog, flights/flightstore), a shell (`datalab monitor`,
// the match dashboard) turns the log and the serving version's training data
// into two Samples, and Compare judges them. The Result is JSON (JSON) and
// an HTML section of a pipeline/report page (Section, Page, WritePage).
//
// # Population stability index
//
// For bins i with reference share r_i and current share c_i (the fraction of
// each sample's rows falling in bin i, missing values counted in a bin of
// their own),
//
//	PSI = Σ_i (c_i − r_i) · ln(c_i / r_i)
//
// where a share of 0 is replaced by ε (Options.Epsilon, 1e-4 by default) so
// that a bin empty on one side counts heavily but finitely; a bin empty on both sides contributes exactly 0, and so does
// every bin of two samples with the same shares (the PSI of identical
// samples is 0). PSI is the symmetrised Kullback–Leibler divergence of the
// binned distributions. The usual rule of thumb, the default thresholds:
// below 0.1 no significant change, 0.1 to 0.25 a moderate change (warn),
// 0.25 and above a significant change (drift).
//
// Numeric bins come from the reference's quantiles: with Options.Bins = k,
// the edges are the reference values q_j = the smallest x with F(x) ≥ j/k
// for j = 1…k−1 (F the empirical distribution function of the reference's
// non-missing values), duplicates removed, so discrete data (a binary flag,
// a small count) gets one bin per distinct value rather than empty or split
// bins. Bins are closed on the right: (−∞, q_1], (q_1, q_2], …, (q_last, +∞);
// the first and last are open-ended, so current values outside the
// reference's range land in them. NaN and ±Inf are missing.
//
// Categorical bins are the reference's categories, most frequent first: the
// Options.MaxCategories most frequent get a bin each and the rest share an
// "(other)" bin; current categories the reference never has share an
// "(unseen)" bin; the empty string is missing. Predicted classes are binned
// the same way, never pooled.
//
// # Sampling noise
//
// Two samples of one distribution do not have PSI 0: with k bins of
// reasonable size it is about (k−1)·(1/n_ref + 1/n_cur), so 0.01 for 11 bins
// and 1,000 current rows, but 0.1 for 100 categories and 1,000 rows. That is
// why categories are pooled beyond MaxCategories and why below MinRows rows
// (in either sample) the verdict is StatusTooFewRows.
package drift

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Kind says how a column is compared.
type Kind uint8

// The kinds of columns.
const (
	Numeric     Kind = iota + 1 // float64 values, binned by the reference's quantiles
	Categorical                 // string values, binned by category
)

// String returns "numeric" or "categorical".
func (k Kind) String() string {
	switch k {
	case Numeric:
		return "numeric"
	case Categorical:
		return "categorical"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name, for JSON.
func (k Kind) MarshalText() ([]byte, error) {
	if k != Numeric && k != Categorical {
		return nil, fmt.Errorf("drift: unknown column kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "numeric":
		*k = Numeric
	case "categorical":
		*k = Categorical
	default:
		return fmt.Errorf("drift: unknown column kind %q (want numeric or categorical)", b)
	}
	return nil
}

// Column is one feature of a sample, one value per row: Numeric values for
// Kind Numeric (NaN or ±Inf = missing), Category values for Kind
// Categorical ("" = missing). The other slice stays nil.
type Column struct {
	Name     string
	Kind     Kind
	Numeric  []float64
	Category []string
}

// NumericColumn returns a Numeric column.
func NumericColumn(name string, values []float64) Column {
	return Column{Name: name, Kind: Numeric, Numeric: values}
}

// CategoricalColumn returns a Categorical column.
func CategoricalColumn(name string, values []string) Column {
	return Column{Name: name, Kind: Categorical, Category: values}
}

// Len returns the number of rows of the column.
func (c Column) Len() int {
	if c.Kind == Numeric {
		return len(c.Numeric)
	}
	return len(c.Category)
}

// Sample is a set of rows: the features, and the class the model predicted
// for each row. Every column has one value per row. Predicted may be nil in
// both samples (the predicted classes are then not compared), and in a
// current sample without rows; as the reference, pass the model's
// predictions on its training or test data, or the label distribution if
// that is what is at hand (the result does not know the difference).
type Sample struct {
	Columns   []Column
	Predicted []string // "" = missing
}

// Options configure the binning and the thresholds. A zero field takes its
// default (DefaultOptions).
type Options struct {
	// Bins is the number of quantile bins of numeric features (fewer when
	// the reference has fewer distinct values), at most MaxBins.
	Bins int `json:"bins"`
	// MaxCategories is the number of the reference's most frequent
	// categories of a categorical feature that get a bin of their own; the
	// rest share one. It bounds the sampling noise of the PSI.
	MaxCategories int `json:"max_categories"`
	// Epsilon replaces a share of 0 in the PSI.
	Epsilon float64 `json:"epsilon"`
	// PSIWarn and PSIAlert are the PSI at which a feature is StatusWarn and
	// StatusDrift.
	PSIWarn  float64 `json:"psi_warn"`
	PSIAlert float64 `json:"psi_alert"`
	// UnseenAlert is the share of current rows whose category the reference
	// never has at which a categorical feature (or the predicted class) is
	// StatusDrift, whatever its PSI.
	UnseenAlert float64 `json:"unseen_alert"`
	// MinRows is the number of rows each sample needs for a verdict other
	// than StatusTooFewRows.
	MinRows int `json:"min_rows"`
}

// MaxBins is the largest Options.Bins.
const MaxBins = 100

// DefaultOptions are the values zero Options fields take.
var DefaultOptions = Options{
	Bins:          10,
	MaxCategories: 20,
	Epsilon:       1e-4,
	PSIWarn:       0.1,
	PSIAlert:      0.25,
	UnseenAlert:   0.05,
	MinRows:       1000,
}

// resolve fills in defaults and checks the options.
func (o Options) resolve() (Options, error) {
	if o.Bins < 0 || o.MaxCategories < 0 || o.MinRows < 0 || o.Epsilon < 0 || o.PSIWarn < 0 || o.PSIAlert < 0 || o.UnseenAlert < 0 {
		return o, fmt.Errorf("drift: options %+v: negative values are not allowed (0 means the default)", o)
	}
	d := DefaultOptions
	o.Bins = orDefault(o.Bins, d.Bins)
	o.MaxCategories = orDefault(o.MaxCategories, d.MaxCategories)
	o.MinRows = orDefault(o.MinRows, d.MinRows)
	o.Epsilon = orDefault(o.Epsilon, d.Epsilon)
	o.PSIWarn = orDefault(o.PSIWarn, d.PSIWarn)
	o.PSIAlert = orDefault(o.PSIAlert, d.PSIAlert)
	o.UnseenAlert = orDefault(o.UnseenAlert, d.UnseenAlert)
	if o.Bins > MaxBins {
		return o, fmt.Errorf("drift: %d bins: at most %d are allowed (sampling noise grows with the number of bins; the default is %d)", o.Bins, MaxBins, d.Bins)
	}
	if o.PSIWarn > o.PSIAlert {
		return o, fmt.Errorf("drift: PSI warn threshold %g is above the alert threshold %g", o.PSIWarn, o.PSIAlert)
	}
	if o.Epsilon >= 1 {
		return o, fmt.Errorf("drift: epsilon %g must be a small share (default %g)", o.Epsilon, d.Epsilon)
	}
	return o, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T int | float64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// PredictionName is the Name of Result.Prediction.
const PredictionName = "predicted class"

// Compare compares cur with ref (see the package documentation). Both
// samples must have the same columns, by name and kind, in any order. It is
// NewReference(ref, o) followed by Reference.Compare(cur).
func Compare(ref, cur Sample, o Options) (*Result, error) {
	r, err := NewReference(ref, o)
	if err != nil {
		return nil, err
	}
	return r.Compare(cur)
}

// Reference is a reference sample reduced to what comparisons need: the
// bins of each feature and the reference's counts in them. Build it once
// and compare many current samples with it (a dashboard, on each view):
// Compare only reads it, so it is safe for concurrent use.
type Reference struct {
	opts       Options
	rows       int
	features   []*refFeature
	byName     map[string]int
	prediction *refFeature
}

// NewReference bins the reference sample ref with the options o.
func NewReference(ref Sample, o Options) (*Reference, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	rows, err := checkSample("reference", ref)
	if err != nil {
		return nil, err
	}
	r := &Reference{opts: o, rows: rows, features: make([]*refFeature, len(ref.Columns)), byName: map[string]int{}}
	g := newGroup()
	for i, c := range ref.Columns {
		r.byName[c.Name] = i
		g.Go(func() error {
			if c.Kind == Numeric {
				r.features[i] = numericReference(c.Name, c.Numeric, o.Bins)
			} else {
				r.features[i] = categoricalReference(c.Name, c.Category, o.MaxCategories)
			}
			return nil
		})
	}
	if ref.Predicted != nil {
		g.Go(func() error {
			r.prediction = categoricalReference(PredictionName, ref.Predicted, math.MaxInt)
			return nil
		})
	}
	g.Wait()
	return r, nil
}

// newGroup returns a group running at most GOMAXPROCS features at a time,
// so that building a reference holds that many sorted copies of columns.
func newGroup() *errgroup.Group {
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	return &g
}

// Compare compares cur with the reference. cur must have the reference's
// columns, by name and kind, and predicted classes if the reference has
// them.
func (r *Reference) Compare(cur Sample) (*Result, error) {
	rows, err := checkSample("current", cur)
	if err != nil {
		return nil, err
	}
	if len(cur.Columns) != len(r.features) {
		return nil, fmt.Errorf("drift: the current sample has %d columns, the reference %d (%s): give both the same columns", len(cur.Columns), len(r.features), r.columnNames())
	}
	order := make([]int, len(cur.Columns)) // reference feature → current column
	for j, c := range cur.Columns {
		i, ok := r.byName[c.Name]
		if !ok {
			return nil, fmt.Errorf("drift: the reference has no column %q (it has %s): give both samples the same columns", c.Name, r.columnNames())
		}
		if f := r.features[i]; f.kind != c.Kind {
			return nil, fmt.Errorf("drift: column %q is %s in the reference and %s in the current sample", c.Name, f.kind, c.Kind)
		}
		order[i] = j
	}
	switch {
	case r.prediction != nil && cur.Predicted == nil && rows > 0:
		return nil, errors.New("drift: the reference has predicted classes and the current sample has none: give both or neither")
	case r.prediction == nil && len(cur.Predicted) > 0:
		return nil, errors.New("drift: the current sample has predicted classes and the reference has none: give both or neither")
	}

	res := &Result{ReferenceRows: r.rows, CurrentRows: rows, Options: r.opts, Features: make([]Feature, len(r.features))}
	g := newGroup()
	for i, f := range r.features {
		c := cur.Columns[order[i]]
		g.Go(func() error {
			res.Features[i] = f.compare(c.Numeric, c.Category, rows, r.opts)
			return nil
		})
	}
	if r.prediction != nil {
		res.Prediction = new(Feature)
		g.Go(func() error {
			*res.Prediction = r.prediction.compare(nil, cur.Predicted, rows, r.opts)
			return nil
		})
	}
	g.Wait()
	res.judge()
	return res, nil
}

func (r *Reference) columnNames() string {
	if len(r.features) == 0 {
		return "no columns"
	}
	names := make([]string, len(r.features))
	for i, f := range r.features {
		names[i] = fmt.Sprintf("%q", f.name)
	}
	return strings.Join(names, ", ")
}

// checkSample returns the number of rows of s, or an error naming what is
// wrong with it.
func checkSample(which string, s Sample) (int, error) {
	rows, first := -1, ""
	seen := make(map[string]bool, len(s.Columns))
	for _, c := range s.Columns {
		switch {
		case c.Name == "" || c.Name == PredictionName:
			return 0, fmt.Errorf("drift: %s sample: column name %q is not allowed: name every column, and pass predicted classes as Sample.Predicted", which, c.Name)
		case seen[c.Name]:
			return 0, fmt.Errorf("drift: %s sample: column %q appears twice", which, c.Name)
		case c.Kind == Numeric && c.Category != nil, c.Kind == Categorical && c.Numeric != nil:
			return 0, fmt.Errorf("drift: %s sample: column %q is %s but has %s values", which, c.Name, c.Kind, otherKind(c.Kind))
		case c.Kind != Numeric && c.Kind != Categorical:
			return 0, fmt.Errorf("drift: %s sample: column %q has no kind: build it with NumericColumn or CategoricalColumn", which, c.Name)
		}
		seen[c.Name] = true
		if rows < 0 {
			rows, first = c.Len(), c.Name
		} else if c.Len() != rows {
			return 0, fmt.Errorf("drift: %s sample: column %q has %d rows, column %q has %d: every column needs one value per row", which, c.Name, c.Len(), first, rows)
		}
	}
	if rows < 0 {
		rows, first = len(s.Predicted), "predicted classes"
	}
	if s.Predicted != nil && len(s.Predicted) != rows {
		return 0, fmt.Errorf("drift: %s sample: %d predicted classes for %d rows (column %q): give one per row", which, len(s.Predicted), rows, first)
	}
	if len(s.Columns) == 0 && s.Predicted == nil {
		return 0, errors.New("drift: " + which + " sample has neither columns nor predicted classes")
	}
	return rows, nil
}

func otherKind(k Kind) Kind {
	if k == Numeric {
		return Categorical
	}
	return Numeric
}
