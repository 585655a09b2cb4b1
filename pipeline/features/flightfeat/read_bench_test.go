package flightfeat

// DuckDB is used only here, in a benchmark anchor: it is a cgo library far
// larger than datalab and stays out of the datalab binary.

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

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

// BenchmarkDuckDBScanFlights3M is the anchor: DuckDB (2 threads) scans the
// same file, builds the route key and counts distinct origins and routes.
func BenchmarkDuckDBScanFlights3M(b *testing.B) {
	path := benchFlights3M(b)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET threads TO 2"); err != nil {
		b.Fatal(err)
	}
	q := `SELECT count(*), count(DISTINCT Origin), count(DISTINCT Origin || '-' || Dest), sum(ArrDelay), sum(Distance), sum(DayOfYear)
		FROM read_parquet('` + strings.ReplaceAll(path, "'", "''") + `')`
	for b.Loop() {
		var n, origins, routes int64
		var arr, dist, doy float64
		if err := db.QueryRow(q).Scan(&n, &origins, &routes, &arr, &dist, &doy); err != nil {
			b.Fatal(err)
		}
		if n == 0 || origins == 0 || routes == 0 {
			b.Fatal("empty scan")
		}
	}
}
