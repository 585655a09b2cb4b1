package report

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// ingestWithBadRows ingests the BTS 2017 sample from the data mirror (which
// has cancelled and diverted flights) with two malformed rows appended, the
// way the pipeline's ingest stage does, and returns the output path and
// ingest's own counts.
func ingestWithBadRows(t *testing.T) (string, *ingest.Report) {
	t.Helper()
	src, err := os.ReadFile(testmirror.Path(t, "flights", "bts2017", "flights_sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	good := lines[1]
	bad := strings.Replace(good, "2017-01-01", "2017-13-01", 1) + // bad date
		"not,a,flight\n" // wrong column count
	dir := t.TempDir()
	in := filepath.Join(dir, "flights_sample.csv")
	if err := os.WriteFile(in, append(src, bad...), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, ok := ingest.Lookup("bts2017")
	if !ok {
		t.Fatal("no bts2017 data set")
	}
	out := filepath.Join(dir, "build", "parquet", "bts2017.parquet")
	rep, err := ingest.Run(context.Background(), ds, ingest.Config{Inputs: []string{in}, Output: out,
		Distances: testmirror.Path(t, "flights", "origin_dest_distances.jsonl"), MaxBadRatio: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	return out, rep
}

// The counts read back from the outputs are ingest's own: rows read, written
// and quarantined, malformed and excluded, per reason.
func TestReadDataQuality(t *testing.T) {
	out, rep := ingestWithBadRows(t)
	q, err := ReadDataQuality(out)
	if err != nil {
		t.Fatal(err)
	}
	if q.Dataset != "bts2017" || q.Quarantine != filepath.ToSlash(ingest.QuarantinePath(out)) {
		t.Errorf("data set %q, quarantine %q", q.Dataset, q.Quarantine)
	}
	if q.Read != rep.Read || q.Written != rep.Wrote || q.Quarantined != rep.Quarantined || q.Malformed != rep.Malformed || q.Excluded != rep.Excluded {
		t.Errorf("read back %+v, ingest said %s malformed %d excluded %d", q, rep.Summary(), rep.Malformed, rep.Excluded)
	}
	if q.Malformed != 2 || q.Excluded == 0 || q.Reasons["bad_date"] != 1 || q.Reasons["wrong_column_count"] != 1 || q.Reasons["cancelled"] == 0 {
		t.Errorf("reasons %v (malformed %d, excluded %d): want the two bad rows and the sample's cancelled flights", q.Reasons, q.Malformed, q.Excluded)
	}
	for r, n := range rep.Reasons {
		if q.Reasons[string(r)] != n {
			t.Errorf("reason %s: read back %d, ingest counted %d", r, q.Reasons[string(r)], n)
		}
	}

	// The section: one row per data set naming its quarantine file, one row
	// per reason, deterministic.
	render := func() string {
		r := New("quality")
		r.DataQuality([]DataQuality{q})
		page, err := r.Render()
		if err != nil {
			t.Fatal(err)
		}
		return string(page)
	}
	page := render()
	if page != render() {
		t.Error("data-quality section is not deterministic")
	}
	doc := parse(t, []byte(page))
	rows := elements(tableByCaption(t, doc, "Rows per data set"), "tr")
	if len(rows) != 2 {
		t.Fatalf("rows table has %d rows, want header + 1", len(rows))
	}
	cells := elements(rows[1], "td")
	for i, want := range []string{"bts2017", qualityCount(rep.Read), qualityCount(rep.Wrote), qualityCount(rep.Quarantined), "2", qualityCount(rep.Excluded)} {
		if got := textOf(cells[i]); got != want {
			t.Errorf("cell %d = %q, want %q", i, got, want)
		}
	}
	if got := textOf(cells[7]); got != q.Quarantine {
		t.Errorf("quarantine file cell %q, want %q", got, q.Quarantine)
	}
	reasons := elements(tableByCaption(t, doc, "Quarantined rows per reason"), "tr")
	if len(reasons) != 1+len(rep.Reasons) {
		t.Errorf("reasons table has %d rows for %d reasons", len(reasons)-1, len(rep.Reasons))
	}
	if !strings.Contains(page, "<td>wrong_column_count</td><td>malformed</td>") || !strings.Contains(page, "<td>cancelled</td><td>excluded by rule</td>") {
		t.Error("reasons table lacks a malformed or an excluded reason")
	}
}

// A missing or corrupt quarantine file, or a missing Parquet file, is an
// error naming the file and how to rebuild it.
func TestReadDataQualityErrors(t *testing.T) {
	out, _ := ingestWithBadRows(t)
	qpath := ingest.QuarantinePath(out)
	data, err := os.ReadFile(qpath)
	if err != nil {
		t.Fatal(err)
	}
	// Third line cut short.
	lines := strings.SplitAfter(string(data), "\n")
	corrupt := lines[0] + lines[1] + lines[2][:20] + "\n"
	if err := os.WriteFile(qpath, []byte(corrupt), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadDataQuality(out)
	if err == nil || !strings.Contains(err.Error(), filepath.ToSlash(qpath)+" line 3") || !strings.Contains(err.Error(), "datalab ingest bts2017") {
		t.Errorf("corrupt quarantine: err = %v", err)
	}
	if err := os.WriteFile(qpath, []byte(`{"file":"x","line":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = ReadDataQuality(out); err == nil || !strings.Contains(err.Error(), "no reason") {
		t.Errorf("record without a reason: err = %v", err)
	}
	os.Remove(qpath)
	if _, err = ReadDataQuality(out); err == nil || !strings.Contains(err.Error(), "bts2017.quarantine.jsonl") {
		t.Errorf("missing quarantine: err = %v", err)
	}
	if err := os.WriteFile(out, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = ReadDataQuality(out); err == nil || !strings.Contains(err.Error(), "not a readable Parquet file") {
		t.Errorf("corrupt Parquet: err = %v", err)
	}
	if _, err = ReadDataQuality(filepath.Join(t.TempDir(), "none.parquet")); err == nil || !strings.Contains(err.Error(), "none.parquet") {
		t.Errorf("missing Parquet: err = %v", err)
	}
}
