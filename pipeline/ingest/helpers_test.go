package ingest

import (
	"bufio"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// mirror paths of the real data sets.
func matchesCSV(t testing.TB) string {
	return testmirror.Path(t, "matches", "international_matches.csv")
}
func resultsCSV(t testing.TB) string { return testmirror.Path(t, "matches", "martj42", "results.csv") }
func bts2017CSV(t testing.TB) string {
	return testmirror.Path(t, "flights", "bts2017", "flights_sample.csv")
}
func flights3mParquet(t testing.TB) string {
	return testmirror.Path(t, "flights", "vega", "flights-3m.parquet")
}
func distancesJSONL(t testing.TB) string {
	return testmirror.Path(t, "flights", "origin_dest_distances.jsonl")
}

func bts2008CSVs(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(testmirror.Path(t, "flights", "bts2008", "flights_2008_*.csv"))
	if err != nil || len(m) != 7 {
		t.Fatalf("want the 7 BTS 2008 files in the mirror, got %v (%v)", m, err)
	}
	return m
}

func mustLookup(t testing.TB, name string) Dataset {
	t.Helper()
	ds, ok := Lookup(name)
	if !ok {
		t.Fatalf("data set %s not registered", name)
	}
	return ds
}

// runIngest ingests inputs as data set name into dir/name.parquet.
func runIngest(t testing.TB, name string, inputs []string, out string) *Report {
	t.Helper()
	rep, err := Run(context.Background(), mustLookup(t, name), Config{
		Inputs: inputs, Output: out, Distances: distancesJSONL(t), MaxBadRatio: DefaultMaxBadRatio,
	})
	if err != nil {
		t.Fatalf("ingest %s: %v", name, err)
	}
	return rep
}

// firstLines returns up to n lines of path (after skip lines).
func firstLines(t testing.TB, path string, skip, n int) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var out []string
	for i := 0; sc.Scan() && len(out) < n; i++ {
		if i >= skip {
			out = append(out, sc.Text())
		}
	}
	return out
}

func readQuarantine(t testing.TB, path string) []QuarantineRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []QuarantineRecord
	dec := jsonDecoder(f)
	for dec.More() {
		var r QuarantineRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("quarantine %s: %v", path, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func decodeB64(t testing.TB, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
