package flightfeat

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

var (
	flights3mOnce sync.Once
	flights3mPath string
	flights3mErr  error
)

// benchFlights3M is flights-3m as `datalab ingest` writes it: the file
// DATALAB_BENCH_FLIGHTS3M names (e.g. build/parquet/flights3m.parquet after
// `datalab run`), or the mirror's source ingested once per process.
func benchFlights3M(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("DATALAB_BENCH_FLIGHTS3M"); p != "" {
		return p
	}
	src := testmirror.Path(b, "flights", "vega", "flights-3m.parquet")
	flights3mOnce.Do(func() {
		dir, err := os.MkdirTemp("", "datalab-bench-")
		if err != nil {
			flights3mErr = err
			return
		}
		ds, _ := ingest.Lookup("flights3m")
		flights3mPath = filepath.Join(dir, "flights3m.parquet")
		_, flights3mErr = ingest.Run(context.Background(), ds, ingest.Config{Inputs: []string{src}, Output: flights3mPath,
			MaxBadRatio: ingest.DefaultMaxBadRatio})
	})
	if flights3mErr != nil {
		b.Fatal(flights3mErr)
	}
	return flights3mPath
}

// BenchmarkReadTableFlights3M reads flights-3m into the training table
// (ReadTable: columnar). Run it beside BenchmarkDuckDBScanFlights3M, the
// anchor (bench/flights/read.sh prints the ratio).
func BenchmarkReadTableFlights3M(b *testing.B) {
	path := benchFlights3M(b)
	b.ReportAllocs()
	for b.Loop() {
		t, err := ReadTable(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		if t.Len() == 0 {
			b.Fatal("no rows")
		}
	}
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// BenchmarkReadRowsFlights3M is the row reader the table was built from
// before (ingest.ScanFlights + Append), for the record.
func BenchmarkReadRowsFlights3M(b *testing.B) {
	path := benchFlights3M(b)
	b.ReportAllocs()
	for b.Loop() {
		t := NewTable()
		if err := ingest.ScanFlights(context.Background(), path, func(rows []ingest.FlightRow) error {
			t.Append(rows)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
