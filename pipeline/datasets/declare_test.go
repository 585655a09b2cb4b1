package datasets

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFormatFromExt(t *testing.T) {
	tests := []struct{ name, want string }{
		{"international_matches.csv", "csv"},
		{"RESULTS.CSV", "csv"},
		{"sub/dir/rows.jsonl", "jsonl"},
		{"rows.ndjson", "jsonl"},
		{"flights-3m.parquet", "parquet"},
		{"part-00000.Parquet", "parquet"},
		{"flights.csv.gz", ""},
		{"notes.txt", ""},
		{"README", ""},
		{"csv", ""},
		{"dir.csv/file", ""},
	}
	for _, tt := range tests {
		if got := FormatFromExt(tt.name); got != tt.want {
			t.Errorf("FormatFromExt(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMergeDeclaration(t *testing.T) {
	odds := SetInfo{Name: "odds", Description: "bookmaker odds", License: "CC0-1.0", Format: "csv", Schema: "odds-v1", Origin: "https://example.org"}
	tests := []struct {
		name    string
		cur     *SetInfo // nil: a new set
		rel     string
		d       Declaration
		want    merged
		wantErr string
	}{
		{
			name: "new set, format guessed from the extension",
			rel:  "odds.csv",
			d:    Declaration{Schema: "odds-v1", License: "CC0-1.0", Description: "bookmaker odds", Origin: "https://example.org", URL: "https://example.org/odds.csv", Store: "st"},
			want: merged{set: odds, putSet: true, add: AddOptions{Store: "st", URL: "https://example.org/odds.csv"}},
		},
		{
			name: "new set, format given wins over the extension",
			rel:  "odds.csv",
			d:    Declaration{Format: "csv-noheader", Mirror: "odds/odds.csv"},
			want: merged{set: SetInfo{Name: "odds", Format: "csv-noheader"}, putSet: true, add: AddOptions{Mirror: "odds/odds.csv"}},
		},
		{
			name: "new set, .ndjson is jsonl",
			rel:  "sub/rows.ndjson",
			want: merged{set: SetInfo{Name: "odds", Format: "jsonl"}, putSet: true},
		},
		{
			name:    "new set, no format and none to guess",
			rel:     "odds.bin",
			d:       Declaration{Schema: "odds-v1"},
			wantErr: "set odds does not exist yet: give its --format (csv, csv-noheader, jsonl, parquet, spark-model, text)",
		},
		{
			name: "existing set, nothing said: the set is kept, the file options pass through",
			cur:  &odds,
			rel:  "more.csv",
			d:    Declaration{URL: "https://example.org/more.csv", Mirror: "odds/more.csv", Store: "st"},
			want: merged{set: odds, add: AddOptions{Store: "st", URL: "https://example.org/more.csv", Mirror: "odds/more.csv"}},
		},
		{
			name: "existing set, the same values given: nothing to write",
			cur:  &odds,
			rel:  "more.csv",
			d:    Declaration{License: "CC0-1.0", Description: "bookmaker odds", Origin: "https://example.org", Format: "csv", Schema: "odds-v1"},
			want: merged{set: odds},
		},
		{
			name: "existing set, license, description and origin updated",
			cur:  &odds,
			rel:  "more.csv",
			d:    Declaration{License: "CC-BY-4.0", Description: "odds of 2026", Origin: "https://example.com"},
			want: merged{set: SetInfo{Name: "odds", Description: "odds of 2026", License: "CC-BY-4.0", Format: "csv", Schema: "odds-v1", Origin: "https://example.com"}, putSet: true},
		},
		{
			name: "existing set, one field updated, the others kept",
			cur:  &odds,
			rel:  "more.csv",
			d:    Declaration{Origin: "https://example.com"},
			want: merged{set: SetInfo{Name: "odds", Description: "bookmaker odds", License: "CC0-1.0", Format: "csv", Schema: "odds-v1", Origin: "https://example.com"}, putSet: true},
		},
		{
			name: "existing set, another format and schema: this file's own, the set unchanged",
			cur:  &odds,
			rel:  "more.parquet",
			d:    Declaration{Format: "parquet", Schema: "odds-v2"},
			want: merged{set: odds, add: AddOptions{Format: "parquet", Schema: "odds-v2"}},
		},
		{
			name: "existing set, the extension is not guessed for a file of it",
			cur:  &odds,
			rel:  "more.parquet",
			want: merged{set: odds},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cur *SetInfo
			if tt.cur != nil {
				c := *tt.cur
				cur = &c
			}
			got, err := mergeDeclaration(cur, "odds", tt.rel, tt.d)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.cur != nil && *cur != *tt.cur {
				t.Errorf("the current set info was changed: %+v", *cur)
			}
		})
	}
}

// TestDeclare: a new file in a new set, a second file with its own format
// and the set's license changed, a changed file declared again, and the
// errors `datalab data add` reports — each through a catalog saved to disk
// and opened again.
func TestDeclare(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	store := filepath.Join(t.TempDir(), "store")
	c, err := OpenOrNew(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string) string {
		t.Helper()
		p := filepath.Join(dataDir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reopen := func() *Set {
		t.Helper()
		re, err := Open(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		return mustSet(t, re, "odds")
	}

	// A new set: the format is guessed from the extension.
	odds := write("odds/odds.csv", "match,home,draw,away\n1,1.5,3.2,5.0\n")
	s, f, err := c.Declare(odds, Declaration{Store: store, Schema: "odds-v1", License: "CC0-1.0", URL: "https://example.org/odds.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "odds" || f.Path != "odds.csv" || s.WorkingPath(f) != odds || !strings.HasSuffix(s.PointerPath(f), "odds.csv.pointer") {
		t.Fatalf("declared %s %s at %s, pointer %s", s.Name, f.Path, s.WorkingPath(f), s.PointerPath(f))
	}
	rs := reopen()
	if rs.Format != "csv" || rs.Schema != "odds-v1" || rs.License != "CC0-1.0" || len(rs.Files) != 1 || rs.Files[0].URL != "https://example.org/odds.csv" || rs.Files[0].Oid != f.Oid {
		t.Fatalf("new set: %+v, files %+v", rs, rs.Files)
	}

	// An existing set: a file of another format gets its own, the license
	// is updated, the schema and URL of the other file are kept.
	more := write("odds/more.parquet", "PAR1")
	if _, _, err := c.Declare(more, Declaration{Store: store, Format: "parquet", License: "CC-BY-4.0"}); err != nil {
		t.Fatal(err)
	}
	rs = reopen()
	if rs.Format != "csv" || rs.Schema != "odds-v1" || rs.License != "CC-BY-4.0" || len(rs.Files) != 2 {
		t.Fatalf("after the second file: %+v", rs)
	}
	if mf, _ := rs.File("more.parquet"); mf == nil || rs.FileFormat(mf) != "parquet" || rs.FileSchema(mf) != "odds-v1" {
		t.Fatalf("second file: %+v", mf)
	}
	if of, _ := rs.File("odds.csv"); of == nil || rs.FileFormat(of) != "csv" || of.URL != "https://example.org/odds.csv" {
		t.Fatalf("first file after the second: %+v", of)
	}

	// A changed file declared again: new pointer, same entry.
	firstOid := f.Oid
	write("odds/odds.csv", "match,home,draw,away\n1,1.5,3.2,5.0\n2,2.0,3.0,3.5\n")
	_, f2, err := c.Declare(odds, Declaration{Store: store})
	if err != nil || f2.Oid == firstOid || f2.URL != "https://example.org/odds.csv" {
		t.Fatalf("declared again: %+v %v", f2, err)
	}
	if of, _ := reopen().File("odds.csv"); of == nil || of.Oid != f2.Oid {
		t.Fatalf("reopened after the change: %+v", of)
	}

	// A file from elsewhere goes to the top of the set it is given.
	outside := filepath.Join(t.TempDir(), "late.csv")
	os.WriteFile(outside, []byte("match\n3\n"), 0o644)
	if s, f, err := c.Declare(outside, Declaration{Set: "odds", Store: store}); err != nil || s.Name != "odds" || f.Path != "late.csv" {
		t.Fatalf("declare from outside with a set: %v", err)
	}

	for _, tt := range []struct {
		name, path string
		d          Declaration
		want       string
	}{
		{"outside the data directory without a set", outside, Declaration{}, "say which set it belongs to with --set"},
		{"another set than its directory", odds, Declaration{Set: "other"}, "drop --set or move the file"},
		{"directly in the data directory", write("loose.csv", "a\n"), Declaration{}, "data files live in a set directory"},
		{"a new set without a format", write("blobs/x.bin", "x"), Declaration{}, "set blobs does not exist yet: give its --format"},
		{"a pointer file", write("odds/odds.csv.pointer", "x"), Declaration{}, "pointer files are written by datalab"},
		// Last: PutSet keeps a set it refuses in the catalog in memory
		// (the saved catalog is untouched), so later declarations of this
		// *Catalog would fail its validation.
		{"a new set with an unknown format", write("blobs/y.bin", "y"), Declaration{Format: "xls"}, `format "xls"`},
	} {
		if _, _, err := c.Declare(tt.path, tt.d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if re, err := Open(dataDir); err != nil || len(re.Names()) != 1 {
		t.Fatalf("after the errors: %v, sets %v", err, re.Names())
	}
}
