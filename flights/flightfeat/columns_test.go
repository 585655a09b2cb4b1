package flightfeat

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// sameTable fails unless got and want hold the same rows, codes and
// dictionary (NaN equal to NaN).
func sameTable(t *testing.T, got, want *Table) {
	t.Helper()
	if got.Len() != want.Len() {
		t.Fatalf("%d rows, want %d", got.Len(), want.Len())
	}
	for c, w := range want.Num {
		g := got.Num[c]
		if !slices.EqualFunc(g, w, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
			t.Errorf("column %s differs", c)
		}
	}
	for c, w := range want.Str {
		if !slices.Equal(got.Str[c], w) {
			t.Errorf("string column %s: codes differ", c)
		}
	}
	if !slices.Equal(got.Dict, want.Dict) {
		t.Errorf("dictionary %v, want %v", got.Dict, want.Dict)
	}
}

// plainFlightRow is ingest.FlightRow without dictionary encoding: a file
// another writer could produce, with plain-encoded strings.
type plainFlightRow struct {
	FlightDate ingest.Date `parquet:"FlightDate,date"`
	Carrier    *string     `parquet:"Carrier"`
	FlightNum  *string     `parquet:"FlightNum"`
	Origin     string      `parquet:"Origin"`
	Dest       string      `parquet:"Dest"`
	DayOfMonth int32       `parquet:"DayOfMonth"`
	DayOfWeek  int32       `parquet:"DayOfWeek"`
	DayOfYear  int32       `parquet:"DayOfYear"`
	CRSDepTime *time.Time  `parquet:"CRSDepTime,timestamp(microsecond:local)"`
	CRSArrTime *time.Time  `parquet:"CRSArrTime,timestamp(microsecond:local)"`
	DepDelay   *float64    `parquet:"DepDelay"`
	ArrDelay   float64     `parquet:"ArrDelay"`
	Distance   *float64    `parquet:"Distance"`
}

func writeFlights[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Row groups of 3 rows: each has its own dictionaries, in another order
	// than the table's codes.
	w := parquet.NewGenericWriter[T](f, parquet.MaxRowsPerRowGroup(3), parquet.PageBufferSize(64),
		parquet.KeyValueMetadata(ingest.SchemaMetadataKey, ingest.FlightsSchema))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadTableColumnar: the columnar reader gives the table Append builds
// from the same rows — values, nulls, codes and dictionary order — for
// dictionary-encoded files (what ingest writes) and plain-encoded ones,
// across row groups with different dictionaries.
func TestReadTableColumnar(t *testing.T) {
	fx := fixture()
	var rows []ingest.FlightRow
	var plain []plainFlightRow
	for i := range fx.Len() {
		r := ingest.FlightRow{Origin: fx.Dict[fx.Str[ColOrigin][i]], Dest: fx.Dict[fx.Str[ColDest][i]],
			DayOfMonth: int32(fx.Num[ColDayOfMonth][i]), DayOfWeek: int32(fx.Num[ColDayOfWeek][i]), DayOfYear: int32(fx.Num[ColDayOfYear][i]),
			ArrDelay: fx.Num[ColArrDelay][i], Distance: ptr(fx.Num[ColDistance][i])}
		if c, ok := fx.String(ColCarrier, i); ok {
			r.Carrier = ptr(c)
		}
		if i%4 != 1 { // some null DepDelay and Distance too
			r.DepDelay = ptr(fx.Num[ColDepDelay][i])
		} else {
			r.Distance = nil
		}
		rows = append(rows, r)
		plain = append(plain, plainFlightRow{Carrier: r.Carrier, Origin: r.Origin, Dest: r.Dest, DayOfMonth: r.DayOfMonth,
			DayOfWeek: r.DayOfWeek, DayOfYear: r.DayOfYear, DepDelay: r.DepDelay, ArrDelay: r.ArrDelay, Distance: r.Distance})
	}
	want := FromRows(rows)
	dir := t.TempDir()
	for name, write := range map[string]func(string){
		"dictionary": func(p string) { writeFlights(t, p, rows) },
		"plain":      func(p string) { writeFlights(t, p, plain) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".parquet")
			write(path)
			got, err := ReadTable(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			sameTable(t, got, want)
		})
	}
}

// TestReadTableColumnarRealData compares the columnar reader with the row
// reader on BTS 2008 as ingest writes it (69 484 flights, real nulls).
func TestReadTableColumnarRealData(t *testing.T) {
	ds, ok := ingest.Lookup("bts2008")
	if !ok {
		t.Fatal("bts2008 not registered")
	}
	var inputs []string
	for _, m := range []string{"4_1", "4_2", "5_1", "5_2", "5_3", "6_1", "6_2"} {
		inputs = append(inputs, testmirror.Path(t, "flights", "bts2008", "flights_2008_"+m+".csv"))
	}
	out := filepath.Join(t.TempDir(), "bts2008.parquet")
	if _, err := ingest.Run(context.Background(), ds, ingest.Config{Inputs: inputs, Output: out,
		Distances: testmirror.Path(t, "flights", "origin_dest_distances.jsonl"), MaxBadRatio: ingest.DefaultMaxBadRatio}); err != nil {
		t.Fatal(err)
	}
	rows, err := ingest.ReadFlights(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadTable(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	sameTable(t, got, FromRows(rows))
}

// TestRandomSplitIsTheSortedPermutation: the split is the seeded
// permutation's first nTest rows and the rest, each in ascending order —
// the definition the committed models were trained with.
func TestRandomSplitIsTheSortedPermutation(t *testing.T) {
	for _, c := range []struct {
		n    int
		frac float64
		seed uint64
	}{{1, 0.5, 1}, {10, 0.2, 7}, {69484, 0.2, 42}, {100003, 0.35, 3}} {
		got, err := RandomSplit(c.n, c.frac, c.seed)
		if err != nil {
			t.Fatal(err)
		}
		perm := rand.New(rand.NewPCG(c.seed, 0)).Perm(c.n)
		nTest := int(math.Round(float64(c.n) * c.frac))
		test, train := slices.Clone(perm[:nTest]), slices.Clone(perm[nTest:])
		slices.Sort(test)
		slices.Sort(train)
		if !slices.Equal(got.Test, test) || !slices.Equal(got.Train, train) {
			t.Errorf("RandomSplit(%d, %v, %d) is not the sorted permutation split", c.n, c.frac, c.seed)
		}
	}
}

// TestReadTableRefusesOtherFiles: a Parquet file ingest did not write as
// flights, or no Parquet file at all, is an error saying what to re-run.
func TestReadTableRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.parquet")
	f, err := os.Create(other)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[plainFlightRow](f)
	if _, err := w.Write([]plainFlightRow{{Origin: "ATL", Dest: "SFO"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	junk := filepath.Join(dir, "junk.parquet")
	if err := os.WriteFile(junk, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		other:                         "re-run `datalab ingest`",
		junk:                          "not a readable Parquet file",
		filepath.Join(dir, "missing"): "run `datalab ingest` first",
	} {
		if _, err := ReadTable(context.Background(), path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadTable(%s): %v, want an error containing %q", filepath.Base(path), err, want)
		}
	}
}
