package drift

import (
	"fmt"
	"strings"

	"github.com/datalabhq/datalab/pipeline/report"
)

// Status is the judgement of one feature, or the overall verdict.
type Status string

// The statuses, from best to worst; StatusTooFewRows replaces all of them
// when a sample has fewer than Options.MinRows rows.
const (
	StatusOK         Status = "ok"
	StatusWarn       Status = "warn"  // PSI ≥ PSIWarn
	StatusDrift      Status = "drift" // PSI ≥ PSIAlert, or unseen share ≥ UnseenAlert
	StatusTooFewRows Status = "too_few_rows"
)

// Result is the comparison of a current sample with a reference. Its JSON
// (Result.JSON) has the field order of the structs and floats as
// encoding/json writes them.
type Result struct {
	Verdict       Status  `json:"verdict"`
	ReferenceRows int     `json:"reference_rows"`
	CurrentRows   int     `json:"current_rows"`
	Options       Options `json:"options"` // with defaults filled in
	// Features are in the reference sample's column order.
	Features []Feature `json:"features"`
	// Prediction compares the predicted classes; nil when the samples have
	// none.
	Prediction *Feature `json:"prediction,omitempty"`
}

// Feature is the comparison of one column (or of the predicted classes).
type Feature struct {
	Name   string `json:"name"`
	Kind   Kind   `json:"kind"`
	Status Status `json:"status"`
	// Reasons say why the status is not ok, one sentence each.
	Reasons []string `json:"reasons,omitempty"`
	PSI     float64  `json:"psi"`
	// The shares of rows with a missing value.
	ReferenceMissing float64 `json:"reference_missing_share"`
	CurrentMissing   float64 `json:"current_missing_share"`
	// The means of the non-missing values of a numeric feature; nil when
	// there are none, and for categorical features.
	ReferenceMean *float64 `json:"reference_mean,omitempty"`
	CurrentMean   *float64 `json:"current_mean,omitempty"`
	// UnseenShare is the share of current rows whose category the reference
	// never has (categorical features and predicted classes).
	UnseenShare float64 `json:"unseen_share,omitempty"`
	// Unseen are the most frequent of those categories (at most
	// MaxUnseenListed), most frequent first.
	Unseen []CategoryCount `json:"unseen_categories,omitempty"`
	// Bins are the bins the PSI sums over, in bin order; bins empty in both
	// samples (they add nothing) are left out.
	Bins []Bin `json:"bins"`
}

// MaxUnseenListed is how many unseen categories a Feature lists.
const MaxUnseenListed = 10

// CategoryCount is a category and its number of current rows.
type CategoryCount struct {
	Category string `json:"category"`
	Rows     int    `json:"rows"`
}

// Bin is one bin of a feature: its label ("(-∞, 1.5]", a category,
// "(other)", "(unseen)", "(missing)"), the shares of each sample's rows in
// it and its term (c − r)·ln(c/r) of the PSI.
type Bin struct {
	Label     string  `json:"label"`
	Reference float64 `json:"reference_share"`
	Current   float64 `json:"current_share"`
	PSI       float64 `json:"psi"`
}

// judge sets each feature's status and reasons and the verdict.
func (res *Result) judge() {
	o := res.Options
	tooFew := res.ReferenceRows < o.MinRows || res.CurrentRows < o.MinRows
	res.Verdict = StatusOK
	for _, f := range res.all() {
		f.Status, f.Reasons = StatusOK, nil
		if tooFew {
			f.Status = StatusTooFewRows
			continue
		}
		switch {
		case f.PSI >= o.PSIAlert:
			f.Status = StatusDrift
			f.Reasons = append(f.Reasons, fmt.Sprintf("PSI %s ≥ alert threshold %s", report.FormatFloat(f.PSI), report.FormatFloat(o.PSIAlert)))
		case f.PSI >= o.PSIWarn:
			f.Status = StatusWarn
			f.Reasons = append(f.Reasons, fmt.Sprintf("PSI %s ≥ warn threshold %s", report.FormatFloat(f.PSI), report.FormatFloat(o.PSIWarn)))
		}
		if f.Kind == Categorical && f.UnseenShare >= o.UnseenAlert {
			f.Status = StatusDrift
			f.Reasons = append(f.Reasons, fmt.Sprintf("%s of current rows have a category the reference never has (alert threshold %s)",
				report.FormatPercent(f.UnseenShare), report.FormatPercent(o.UnseenAlert)))
		}
		res.Verdict = worse(res.Verdict, f.Status)
	}
	if tooFew {
		res.Verdict = StatusTooFewRows
	}
}

// worse returns the worse of two of ok, warn and drift.
func worse(a, b Status) Status {
	if severity(b) > severity(a) {
		return b
	}
	return a
}

func severity(s Status) int {
	switch s {
	case StatusWarn:
		return 1
	case StatusDrift:
		return 2
	}
	return 0
}

// all returns the features and the prediction, in that order.
func (res *Result) all() []*Feature {
	out := make([]*Feature, 0, len(res.Features)+1)
	for i := range res.Features {
		out = append(out, &res.Features[i])
	}
	if res.Prediction != nil {
		out = append(out, res.Prediction)
	}
	return out
}

// Alerts returns one line per reason of each feature (or of the predicted
// classes) in StatusDrift, "<feature>: <reason>"; none when the verdict is
// not StatusDrift. A shell exits non-zero when there are any.
func (res *Result) Alerts() []string { return res.lines(StatusDrift) }

// Warnings returns the same lines for the features in StatusWarn.
func (res *Result) Warnings() []string { return res.lines(StatusWarn) }

func (res *Result) lines(s Status) []string {
	var out []string
	for _, f := range res.all() {
		if f.Status == s {
			for _, why := range f.Reasons {
				out = append(out, f.Name+": "+why)
			}
		}
	}
	return out
}

// Summary returns the verdict in one line, naming the features that are
// not ok: "drift: 5000 current rows against 20000 reference rows; drift in
// age".
func (res *Result) Summary() string {
	if res.Verdict == StatusTooFewRows {
		return "too few rows to judge: " + res.details()
	}
	return string(res.Verdict) + ": " + res.details()
}

// details is the Summary after the verdict.
func (res *Result) details() string {
	s := fmt.Sprintf("%d current rows against %d reference rows", res.CurrentRows, res.ReferenceRows)
	if res.Verdict == StatusTooFewRows {
		return fmt.Sprintf("%s, at least %d each are needed", s, res.Options.MinRows)
	}
	drift, warn := res.featuresIn(StatusDrift), res.featuresIn(StatusWarn)
	if len(drift) > 0 {
		s += "; drift in " + strings.Join(drift, ", ")
	}
	if len(warn) > 0 {
		s += "; warning for " + strings.Join(warn, ", ")
	}
	if len(drift)+len(warn) == 0 {
		s += "; no feature drifted"
	}
	return s
}

// MaxPSI returns the largest PSI of the features and the predicted classes
// (0 when there are none).
func (res *Result) MaxPSI() float64 {
	m := 0.0
	for _, f := range res.all() {
		m = max(m, f.PSI)
	}
	return m
}

// featuresIn returns the names of the features (and the predicted classes)
// with status s.
func (res *Result) featuresIn(s Status) []string {
	var names []string
	for _, f := range res.all() {
		if f.Status == s {
			names = append(names, f.Name)
		}
	}
	return names
}
