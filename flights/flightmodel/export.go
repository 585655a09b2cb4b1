package flightmodel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// ExportCSV writes dir/train.csv and dir/test.csv: the feature vectors of
// variant v's training and test rows (the stages fitted on the training
// split, exactly what Train feeds the forest) with a header of feature
// names and a final "label" column (the delay bucket 0..3). A missing
// value is an empty cell. It returns the two row counts.
func ExportCSV(ctx context.Context, cfg Config, v VariantConfig, dir string) (int, int, error) {
	t, split, err := NewData(cfg).Load(ctx, v.Data)
	if err != nil {
		return 0, 0, err
	}
	stages, err := flightfeat.FitStages(t, split.Train, v.Features)
	if err != nil {
		return 0, 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	for _, part := range []struct {
		name string
		rows []int
	}{{"train.csv", split.Train}, {"test.csv", split.Test}} {
		y, err := flightfeat.Labels(t, part.rows)
		if err != nil {
			return 0, 0, err
		}
		cols := stages.Columns(t, part.rows)
		path := filepath.Join(dir, part.name)
		err = atomicfile.Write(path, func(f io.Writer) error {
			w := bufio.NewWriter(f)
			w.WriteString(strings.Join(append(append([]string{}, stages.Features...), "label"), ",") + "\n")
			buf := make([]byte, 0, 256)
			for k := range part.rows {
				buf = buf[:0]
				for f := range cols {
					if x := cols[f][k]; x == x {
						buf = strconv.AppendFloat(buf, x, 'g', -1, 64)
					}
					buf = append(buf, ',')
				}
				buf = strconv.AppendInt(buf, int64(y[k]), 10)
				buf = append(buf, '\n')
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			return w.Flush()
		})
		if err != nil {
			return 0, 0, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return len(split.Train), len(split.Test), nil
}
