package evaluate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// Comparison names one scored variant — a model, an ablation or a
// baseline — so several can be tabulated and plotted side by side.
type Comparison struct {
	Name   string  `json:"name"`
	Result *Result `json:"result"`
}

// Metric is one headline number of a Result.
type Metric struct {
	Key            string  `json:"key"`   // JSON field name, e.g. "balanced_accuracy"
	Label          string  `json:"label"` // human label, e.g. "Balanced accuracy"
	Value          float64 `json:"value"` // may be Undefined (AUC only)
	HigherIsBetter bool    `json:"higher_is_better"`
}

// Metrics returns the headline metrics in a fixed order: accuracy, balanced
// accuracy, weighted precision, recall and F1, log loss, Brier, RPS, AUC.
// HigherIsBetter tells tables and diffs the direction: false for log loss,
// Brier and RPS.
func (r *Result) Metrics() []Metric {
	return []Metric{
		{"accuracy", "Accuracy", r.Accuracy, true},
		{"balanced_accuracy", "Balanced accuracy", r.BalancedAccuracy, true},
		{"weighted_precision", "Weighted precision", r.WeightedPrecision, true},
		{"weighted_recall", "Weighted recall", r.WeightedRecall, true},
		{"weighted_f1", "Weighted F1", r.WeightedF1, true},
		{"log_loss", "Log loss", r.LogLoss, false},
		{"brier", "Brier", r.Brier, false},
		{"rps", "RPS", r.RPS, false},
		{"auc", "AUC", r.AUC, true},
	}
}

// MarshalDeterministic encodes v as indented JSON with a trailing newline.
// encoding/json sorts map keys and Result holds no NaN or Inf, so equal
// values give equal bytes.
func MarshalDeterministic(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteJSON atomically writes v (a Result, a []Comparison, …) to path as
// MarshalDeterministic's output, creating parent directories.
func WriteJSON(path string, v any) error {
	data, err := MarshalDeterministic(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadResult reads a Result that WriteJSON wrote to path.
func ReadResult(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read evaluation result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode evaluation result %s: %w", path, err)
	}
	return &r, nil
}
