//go:build cgo

package flightfeat

// DuckDB is used only here, in a benchmark anchor: it is a cgo library far
// larger than datalab and stays out of the datalab binary. make test builds
// without cgo (one compile of every package serves the tests and the static
// image build), so this file is left out there; bench/read/run.sh runs it
// with CGO_ENABLED=1.

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

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
