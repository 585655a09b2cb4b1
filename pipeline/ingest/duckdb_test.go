//go:build cgo

package ingest

// DuckDB is used only here, in tests and benchmarks: it is a cgo library far
// larger than datalab, and it must stay out of the datalab binary. make test
// builds everything else without cgo (one compile serves the tests and the
// static image build) and runs this file's tests in a step of their own with
// CGO_ENABLED=1 (`-run '^TestDuckDB'`): every test here is named TestDuckDB….

import (
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func openDuckDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET threads TO 2"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// duckTypes returns column name → DuckDB type of a Parquet file.
func duckTypes(t testing.TB, db *sql.DB, path string) map[string]string {
	t.Helper()
	rows, err := db.Query("DESCRIBE SELECT * FROM read_parquet(" + sqlQuote(path) + ")")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := map[string]string{}
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		types[fmt.Sprint(vals[0])] = fmt.Sprint(vals[1])
	}
	return types
}

func checkTypes(t *testing.T, got, want map[string]string) {
	t.Helper()
	for col, typ := range want {
		if got[col] != typ {
			t.Errorf("DuckDB reads column %s as %q, want %s", col, got[col], typ)
		}
	}
}

var flightDuckTypes = map[string]string{
	"FlightDate": "DATE", "Carrier": "VARCHAR", "FlightNum": "VARCHAR", "Origin": "VARCHAR", "Dest": "VARCHAR",
	"DayOfMonth": "INTEGER", "DayOfWeek": "INTEGER", "DayOfYear": "INTEGER",
	"CRSDepTime": "TIMESTAMP", "CRSArrTime": "TIMESTAMP",
	"DepDelay": "DOUBLE", "ArrDelay": "DOUBLE", "Distance": "DOUBLE",
}

// TestDuckDBReadsFlights checks that DuckDB sees our types (DATE, TIMESTAMP,
// VARCHAR, nullable columns) and the same values as ReadFlights, row by row,
// on real BTS data (2008: all columns set; 2017: null FlightNum and times).
func TestDuckDBReadsFlights(t *testing.T) {
	db := openDuckDB(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		name   string
		inputs []string
	}{{"bts2008", bts2008CSVs(t)}, {"bts2017", []string{bts2017CSV(t)}}} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.name+".parquet")
			runIngest(t, tt.name, tt.inputs, out)
			checkTypes(t, duckTypes(t, db, out), flightDuckTypes)
			want, err := ReadFlights(out)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := db.Query(`SELECT FlightDate, Carrier, FlightNum, Origin, Dest, DayOfMonth, DayOfWeek, DayOfYear,
				CRSDepTime, CRSArrTime, DepDelay, ArrDelay, Distance FROM read_parquet(` + sqlQuote(out) + `)`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			i := 0
			for ; rows.Next(); i++ {
				var (
					date                     time.Time
					carrier, num             sql.NullString
					origin, dest             string
					dom, dow, doy            int32
					dep, arr                 sql.NullTime
					depDelay, arrDelay, dist sql.NullFloat64
				)
				if err := rows.Scan(&date, &carrier, &num, &origin, &dest, &dom, &dow, &doy, &dep, &arr, &depDelay, &arrDelay, &dist); err != nil {
					t.Fatal(err)
				}
				w := want[i]
				same := DateOf(date.UTC()) == w.FlightDate && nullStr(carrier) == fmtPtr(w.Carrier) && nullStr(num) == fmtPtr(w.FlightNum) &&
					origin == w.Origin && dest == w.Dest && dom == w.DayOfMonth && dow == w.DayOfWeek && doy == w.DayOfYear &&
					nullTime(dep) == fmtTime(w.CRSDepTime) && nullTime(arr) == fmtTime(w.CRSArrTime) &&
					nullF(depDelay) == fmtPtr(w.DepDelay) && arrDelay.Valid && arrDelay.Float64 == w.ArrDelay && nullF(dist) == fmtPtr(w.Distance)
				if !same {
					t.Fatalf("row %d: DuckDB reads %v %v %v %s %s %d %d %d %v %v %v %v %v\nparquet-go reads %s",
						i, date, carrier, num, origin, dest, dom, dow, doy, dep, arr, depDelay, arrDelay, dist, fmtFlight(w))
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if i != len(want) {
				t.Fatalf("DuckDB reads %d rows, parquet-go %d", i, len(want))
			}
		})
	}
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "<null>"
	}
	return fmt.Sprint(*p)
}
func fmtTime(p *time.Time) string {
	if p == nil {
		return "<null>"
	}
	return p.UTC().Format(time.RFC3339Nano)
}
func nullStr(s sql.NullString) string {
	if !s.Valid {
		return "<null>"
	}
	return s.String
}
func nullF(f sql.NullFloat64) string {
	if !f.Valid {
		return "<null>"
	}
	return fmt.Sprint(f.Float64)
}
func nullTime(t sql.NullTime) string {
	if !t.Valid {
		return "<null>"
	}
	// DuckDB TIMESTAMP (no zone) comes back as a time.Time in UTC.
	return t.Time.UTC().Format(time.RFC3339Nano)
}

// TestDuckDBReadsMatches checks the matches types (DATE, BOOLEAN, INTEGER,
// nullable DOUBLE) and that DuckDB counts the same nulls as the CSV has
// empty cells.
func TestDuckDBReadsMatches(t *testing.T) {
	db := openDuckDB(t)
	out := filepath.Join(t.TempDir(), "matches.parquet")
	runIngest(t, "matches", []string{matchesCSV(t)}, out)
	checkTypes(t, duckTypes(t, db, out), map[string]string{
		"date": "DATE", "home_team": "VARCHAR", "home_team_fifa_rank": "INTEGER", "neutral_location": "BOOLEAN",
		"shoot_out": "BOOLEAN", "home_team_goalkeeper_score": "DOUBLE",
	})
	var n, gkNull, shootouts int64
	var first, last time.Time
	err := db.QueryRow(`SELECT count(*), count(*) - count(home_team_goalkeeper_score), count(*) FILTER (WHERE shoot_out),
		min(date), max(date) FROM read_parquet(`+sqlQuote(out)+`)`).Scan(&n, &gkNull, &shootouts, &first, &last)
	if err != nil {
		t.Fatal(err)
	}
	// Counts from the CSV: 15,542 empty home goalkeeper cells, 332 "Yes" shoot-outs.
	if n != 23921 || gkNull != 15542 || shootouts != 332 || first.Format(time.DateOnly) != "1993-08-08" || last.Format(time.DateOnly) != "2022-06-14" {
		t.Errorf("DuckDB: %d rows, %d null goalkeeper scores, %d shoot-outs, %v…%v", n, gkNull, shootouts, first, last)
	}
}

// TestDuckDBChecksFlights3M ingests the 3M-row flights-3m file and lets DuckDB compare
// the result with the source file: same row count, same delay and distance
// sums, departure timestamps carried over exactly.
func TestDuckDBChecksFlights3M(t *testing.T) {
	if testing.Short() {
		t.Skip("3M rows")
	}
	src := flights3mParquet(t)
	out := filepath.Join(t.TempDir(), "flights3m.parquet")
	rep := runIngest(t, "flights3m", []string{src}, out)
	t.Logf("%s %v in %v (%.0f rows/s)", rep.Summary(), rep.ReasonLines(), rep.Elapsed, float64(rep.Read)/rep.Elapsed.Seconds())
	db := openDuckDB(t)
	checkTypes(t, duckTypes(t, db, out), flightDuckTypes)
	var srcN, srcDelayNull int64
	var srcDelay, srcDist float64
	if err := db.QueryRow(`SELECT count(*), count(*) - count(delay), sum(delay)::DOUBLE, sum(distance)::DOUBLE FROM read_parquet(`+
		sqlQuote(src)+`)`).Scan(&srcN, &srcDelayNull, &srcDelay, &srcDist); err != nil {
		t.Fatal(err)
	}
	var n, carriers, depMismatch, calMismatch int64
	var delay, dist float64
	if err := db.QueryRow(`SELECT count(*), count(Carrier), sum(ArrDelay), sum(Distance),
		count(*) FILTER (WHERE CRSDepTime::DATE <> FlightDate),
		count(*) FILTER (WHERE isodow(FlightDate) <> DayOfWeek OR dayofyear(FlightDate) <> DayOfYear OR day(FlightDate) <> DayOfMonth)
		FROM read_parquet(`+sqlQuote(out)+`)`).Scan(&n, &carriers, &delay, &dist, &depMismatch, &calMismatch); err != nil {
		t.Fatal(err)
	}
	if n != srcN-srcDelayNull || n != rep.Wrote || carriers != 0 || math.Abs(delay-srcDelay) > 1e-6 || math.Abs(dist-srcDist) > 1e-6 ||
		depMismatch != 0 || calMismatch != 0 {
		t.Errorf("source %d rows (%d null delay), Σdelay %v, Σdistance %v; output %d rows, %d carriers, Σ %v %v, %d/%d mismatches",
			srcN, srcDelayNull, srcDelay, srcDist, n, carriers, delay, dist, depMismatch, calMismatch)
	}
	var diff int64
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT date FROM read_parquet(` + sqlQuote(src) + `) WHERE delay IS NOT NULL
		EXCEPT ALL SELECT CRSDepTime FROM read_parquet(` + sqlQuote(out) + `))`).Scan(&diff); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("%d source departure timestamps missing from CRSDepTime", diff)
	}
}

// duckCopySQL is the DuckDB conversion of each benchmarked data set into the
// same schema as ours (explicit column types, zstd, same row-group size).
func duckCopySQL(name string, inputs []string, out string) string {
	var q []string
	for _, in := range inputs {
		q = append(q, sqlQuote(in))
	}
	files := "[" + strings.Join(q, ",") + "]"
	opts := fmt.Sprintf("(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %d)", RowGroupRows)
	switch name {
	case "matches":
		cols := []string{"date DATE"}
		for _, c := range matchesHeader[1:] {
			typ := "VARCHAR"
			switch {
			case strings.HasSuffix(c, "_rank"), strings.HasSuffix(c, "_points"), c == "home_team_score", c == "away_team_score":
				typ = "INTEGER"
			case strings.HasSuffix(c, "_score"):
				typ = "DOUBLE"
			case c == "neutral_location":
				typ = "BOOLEAN"
			}
			cols = append(cols, fmt.Sprintf("'%s': '%s'", c, typ))
		}
		cols[0] = "'date': 'DATE'"
		return fmt.Sprintf(`COPY (SELECT * REPLACE (shoot_out = 'Yes' AS shoot_out) FROM read_csv(%s, header=true, columns={%s}))
			TO %s %s`, files, strings.Join(cols, ","), sqlQuote(out), opts)
	case "bts2008":
		var cols []string
		for _, c := range bts2008Names {
			typ := "INTEGER"
			switch c {
			case "UniqueCarrier", "FlightNum", "TailNum", "Origin", "Dest", "CancellationCode":
				typ = "VARCHAR"
			case "ArrDelay", "DepDelay", "Distance":
				typ = "DOUBLE"
			}
			cols = append(cols, fmt.Sprintf("'%s': '%s'", c, typ))
		}
		return fmt.Sprintf(`COPY (
			WITH src AS (SELECT *, make_date(Year, Month, DayofMonth) AS d FROM read_csv(%s, header=false, nullstr=['NA','\N'], columns={%s}))
			SELECT d AS FlightDate, UniqueCarrier AS Carrier, FlightNum, Origin, Dest, DayofMonth AS DayOfMonth,
				isodow(d)::INTEGER AS DayOfWeek, dayofyear(d)::INTEGER AS DayOfYear,
				d + to_minutes(CRSDepTime // 100 * 60 + CRSDepTime %% 100) AS CRSDepTime,
				d + to_minutes(CRSArrTime // 100 * 60 + CRSArrTime %% 100 + CASE WHEN CRSArrTime < CRSDepTime THEN 1440 ELSE 0 END) AS CRSArrTime,
				DepDelay, ArrDelay, Distance
			FROM src WHERE ArrDelay IS NOT NULL AND coalesce(CancellationCode, '') = '')
			TO %s %s`, files, strings.Join(cols, ","), sqlQuote(out), opts)
	}
	panic("no DuckDB conversion for " + name)
}

// BenchmarkIngest measures ingest throughput on real data and, in the same
// run, DuckDB converting the same files with COPY … TO parquet. Metrics:
// rows/s and MB/s (input bytes) for datalab, duckdb-rows/s, and
// datalab/duckdb = our time over DuckDB's (below 1: we are faster).
func BenchmarkIngest(b *testing.B) {
	db := openDuckDB(b)
	for _, bb := range []struct {
		name   string
		inputs []string
	}{{"matches", []string{matchesCSV(b)}}, {"bts2008", bts2008CSVs(b)}} {
		b.Run(bb.name, func(b *testing.B) {
			dir := b.TempDir()
			out, duckOut := filepath.Join(dir, "ours.parquet"), filepath.Join(dir, "duck.parquet")
			copySQL := duckCopySQL(bb.name, bb.inputs, duckOut)
			var ours, duck time.Duration
			var rep *Report
			for b.Loop() {
				start := time.Now()
				rep = runIngest(b, bb.name, bb.inputs, out)
				ours += time.Since(start)
				start = time.Now()
				if _, err := db.Exec(copySQL); err != nil {
					b.Fatal(err)
				}
				duck += time.Since(start)
			}
			var duckRows int64
			if err := db.QueryRow("SELECT count(*) FROM read_parquet(" + sqlQuote(duckOut) + ")").Scan(&duckRows); err != nil {
				b.Fatal(err)
			}
			if duckRows != rep.Wrote {
				b.Fatalf("DuckDB wrote %d rows, datalab %d", duckRows, rep.Wrote)
			}
			n := float64(b.N)
			b.ReportMetric(float64(rep.Read)*n/ours.Seconds(), "rows/s")
			b.ReportMetric(float64(rep.InputBytes)*n/ours.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(rep.Read)*n/duck.Seconds(), "duckdb-rows/s")
			b.ReportMetric(ours.Seconds()/duck.Seconds(), "datalab/duckdb")
			ourSize, duckSize := fileSize(b, out), fileSize(b, duckOut)
			b.ReportMetric(float64(ourSize)/float64(duckSize), "size-ratio")
		})
	}
}

func fileSize(t testing.TB, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
