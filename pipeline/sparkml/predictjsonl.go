package sparkml

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// PredictStats counts what PredictJSONL did.
type PredictStats struct {
	Rows    int `json:"rows"`
	Skipped int `json:"skipped"`
}

// predictionLine is one output line of PredictJSONL.
type predictionLine struct {
	Prediction  *int      `json:"prediction,omitempty"`
	Probability []float64 `json:"probability,omitempty"`
	Label       string    `json:"label,omitempty"`
	Skipped     bool      `json:"skipped,omitempty"`
	Reason      string    `json:"reason,omitempty"`
}

// PredictJSONL reads one JSON object per line from r (blank lines are
// ignored) and writes one JSON line per row to w:
// {"prediction":k,"probability":[…]} plus "label" when the pipeline has a
// label stage. A row is either raw fields, run through the feature stages,
// or {"features":[…]}, a pre-assembled vector where null is a missing value.
// A row dropped by a handleInvalid "skip" stage is written as
// {"skipped":true,"reason":…} so that output lines match input rows. Any
// other bad row stops the run with an error naming its line.
func PredictJSONL(ctx context.Context, p *Pipeline, r io.Reader, w io.Writer) (PredictStats, error) {
	var st PredictStats
	br := bufio.NewReaderSize(r, 1<<16)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for line := 1; ; line++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		data, rerr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(data)) > 0 {
			out, err := predictLine(p, data)
			if err != nil {
				return st, fmt.Errorf("line %d: %w", line, err)
			}
			st.Rows++
			if out.Skipped {
				st.Skipped++
			}
			if err := enc.Encode(out); err != nil {
				return st, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return st, fmt.Errorf("line %d: %w", line, rerr)
		}
	}
	return st, bw.Flush()
}

func predictLine(p *Pipeline, data []byte) (predictionLine, error) {
	row, err := DecodeRow(data)
	if err != nil {
		return predictionLine{}, fmt.Errorf("not a JSON object: %w", err)
	}
	x, err := p.RowFeatures(row)
	if errors.Is(err, ErrSkipRow) {
		return predictionLine{Skipped: true, Reason: err.Error()}, nil
	}
	if err != nil {
		return predictionLine{}, err
	}
	pred, err := p.Predict(x)
	if err != nil {
		return predictionLine{}, err
	}
	return predictionLine{Prediction: &pred.Class, Probability: pred.Probability, Label: pred.Label}, nil
}
