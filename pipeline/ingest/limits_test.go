package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// matchesSample writes the header and the first n real rows of the matches
// CSV, with extra rows inserted before the given 0-based data-row indices,
// and returns the path and the file's lines as written.
func matchesSample(t *testing.T, n int, insert map[int]string, eol string) string {
	t.Helper()
	lines := firstLines(t, matchesCSV(t), 0, n+1)
	var out []string
	for i, l := range lines {
		if extra, ok := insert[i-1]; ok && i > 0 {
			out = append(out, extra)
		}
		out = append(out, l)
	}
	p := filepath.Join(t.TempDir(), "matches.csv")
	if err := os.WriteFile(p, []byte(strings.Join(out, eol)+eol), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ingestAnyRatio ingests one small input whatever its share of bad rows
// (a few bad rows among 50 are above the default ratio).
func ingestAnyRatio(t *testing.T, name, in, out string) *Report {
	t.Helper()
	rep, err := Run(context.Background(), mustLookup(t, name), Config{
		Inputs: []string{in}, Output: out, Distances: distancesJSONL(t), MaxBadRatio: 1,
	})
	if err != nil {
		t.Fatalf("ingest %s: %v", name, err)
	}
	return rep
}

// matchRowWith is the first real data row of the matches CSV with field i
// replaced by v (already CSV-encoded).
func matchRowWith(t *testing.T, i int, v string) string {
	t.Helper()
	f := strings.Split(firstLines(t, matchesCSV(t), 1, 1)[0], ",")
	f[i] = v
	return strings.Join(f, ",")
}

// TestLineTooLong: a 10 MB team name is quarantined as line_too_long at its
// physical line, never reaches the Parquet output, and the rows after it
// are ingested.
func TestLineTooLong(t *testing.T) {
	huge := matchRowWith(t, 1, strings.Repeat("Bolivia", 10<<20/7))
	in := matchesSample(t, 50, map[int]string{10: huge, 20: matchRowWith(t, 5, "59x")}, "\n")
	out := filepath.Join(t.TempDir(), "m.parquet")
	rep := ingestAnyRatio(t, "matches", in, out)
	if rep.Wrote != 50 || rep.Quarantined != 2 || rep.Read != 52 {
		t.Fatalf("%s, want wrote 50, quarantined 2 (read 52)", rep.Summary())
	}
	recs := readQuarantine(t, rep.Quarantine)
	if len(recs) != 2 {
		t.Fatalf("%d quarantine records, want 2", len(recs))
	}
	// header = line 1, data row k (0-based) = line k+2 before the inserts.
	if recs[0].Reason != "line_too_long" || recs[0].Line != 12 {
		t.Errorf("record 0: line %d reason %s (%s), want line 12 line_too_long", recs[0].Line, recs[0].Reason, recs[0].Detail)
	}
	if len(recs[0].Raw) > 64<<10 || !strings.HasPrefix(huge, recs[0].Raw) {
		t.Errorf("record 0 raw is %d bytes; want a short prefix of the line", len(recs[0].Raw))
	}
	if recs[1].Reason != ReasonBadNumber || recs[1].Line != 23 {
		t.Errorf("record 1: line %d reason %s, want line 23 bad_number", recs[1].Line, recs[1].Reason)
	}
	rows, err := ReadMatches(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if len(r.HomeTeam) > 1000 {
			t.Fatalf("a %d-byte team name went into Parquet", len(r.HomeTeam))
		}
	}
}

// TestQuotedNewlines: RFC 4180 lets a quoted field hold line breaks; such a
// record is one row (not two malformed ones), and quarantine line numbers
// after it still count physical lines. CRLF files behave the same.
func TestQuotedNewlines(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n"} {
		multi := matchRowWith(t, 12, `"La`+eol+`Paz ""alta"""`)
		in := matchesSample(t, 30, map[int]string{5: multi, 10: matchRowWith(t, 5, "59x")}, eol)
		out := filepath.Join(t.TempDir(), "m.parquet")
		rep := ingestAnyRatio(t, "matches", in, out)
		if rep.Wrote != 31 || rep.Quarantined != 1 {
			t.Fatalf("eol %q: %s, want wrote 31, quarantined 1", eol, rep.Summary())
		}
		recs := readQuarantine(t, rep.Quarantine)
		// Lines: header 1, rows 0-4 → 2-6, the 2-line record 7-8, rows 5-9 → 9-13, inserted bad row 14.
		if len(recs) != 1 || recs[0].Line != 14 || recs[0].Reason != ReasonBadNumber {
			t.Fatalf("eol %q: quarantine %+v, want one bad_number at line 14", eol, recs)
		}
		rows, err := ReadMatches(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := rows[5].City; got != "La\nPaz \"alta\"" {
			t.Errorf("eol %q: city %q, want %q", eol, got, "La\nPaz \"alta\"")
		}
	}
}

// TestNULBytesQuarantined: a NUL byte in a text field is quarantined as
// nul_byte (C-string consumers would truncate it), in CSV and JSON Lines.
func TestNULBytesQuarantined(t *testing.T) {
	in := matchesSample(t, 10, map[int]string{3: matchRowWith(t, 1, "Bol\x00ivia")}, "\n")
	rep := ingestAnyRatio(t, "matches", in, filepath.Join(t.TempDir(), "m.parquet"))
	recs := readQuarantine(t, rep.Quarantine)
	if rep.Wrote != 10 || len(recs) != 1 || recs[0].Reason != "nul_byte" || recs[0].Line != 5 {
		t.Fatalf("%s; quarantine %+v, want one nul_byte at line 5", rep.Summary(), recs)
	}

	jl := filepath.Join(t.TempDir(), "f.jsonl")
	good := `{"FlightDate":"2015-01-01","Origin":"ABQ","Dest":"DFW","ArrDelay":1,"Carrier":"AA","FlightNum":"1519"}`
	bad := strings.Replace(good, `"AA"`, `"A\u0000A"`, 1)
	badNum := strings.Replace(good, `"1519"`, `"15\u000019"`, 1)
	if err := os.WriteFile(jl, []byte(good+"\n"+bad+"\n"+badNum+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), mustLookup(t, "flights-jsonl"), Config{
		Inputs: []string{jl}, Output: filepath.Join(t.TempDir(), "f.parquet"), Distances: distancesJSONL(t), MaxBadRatio: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	recs = readQuarantine(t, rep.Quarantine)
	if rep.Wrote != 1 || len(recs) != 2 || recs[0].Reason != "nul_byte" || recs[1].Reason != "nul_byte" {
		t.Fatalf("%s; quarantine %+v, want lines 2 and 3 as nul_byte", rep.Summary(), recs)
	}
}

// TestCSVRecordFraming covers how records are cut from lines: a quoted
// field spanning lines is one record only when the joined record is one of
// the layout; a stray quote is quarantined alone (it does not swallow the
// rows after it); the line limit bounds joined records too.
func TestCSVRecordFraming(t *testing.T) {
	header := "date,home_team,away_team,home_score,away_score,tournament,city,country,neutral"
	row := func(city string) string {
		return "1872-11-30,Scotland,England,0,0,Friendly," + city + ",Scotland,FALSE"
	}
	type q struct {
		line   int64
		reason Reason
	}
	tests := []struct {
		name    string
		body    string
		maxLine int
		wrote   int64
		quar    []q
		cities  []string
	}{
		{"quoted newline", row(`"Glas`+"\n"+`gow"`) + "\n" + row("A") + "\n", 0, 2, nil, []string{"Glas\ngow", "A"}},
		{"blank line inside quotes", row(`"x`+"\n\n"+`y"`) + "\n" + row("B") + "\n", 0, 2, nil, []string{"x\n\ny", "B"}},
		{"unterminated at EOF", row("A") + "\n" + row(`"open`) + "\n" + row("B") + "\n", 0, 2,
			[]q{{3, ReasonMalformedCSV}}, []string{"A", "B"}},
		{"unterminated, closed by a later quote", row(`"open`) + "\n" + row("A") + "\n" + row(`"B"`) + "\n" + row("C") + "\n", 0, 3,
			[]q{{2, ReasonMalformedCSV}}, []string{"A", "B", "C"}},
		{"joined record over the limit", row(`"`+strings.Repeat("x", 100)) + "\n" + strings.Repeat("y", 100) + `"` + "\n" + row("A") + "\n", 200, 1,
			[]q{{2, ReasonMalformedCSV}, {3, ReasonMalformedCSV}}, []string{"A"}},
		{"too-long line inside a quoted field", row(`"a`) + "\n" + strings.Repeat("z", 300) + "\n" + `b"` + "\n" + row("A") + "\n", 200, 1,
			[]q{{2, ReasonMalformedCSV}, {3, ReasonLineTooLong}, {4, ReasonMalformedCSV}}, []string{"A"}},
		{"bad value in a joined record", strings.Replace(row(`"La`+"\n"+`Paz"`), "0,0", "0,x", 1) + "\n" + row("A") + "\n", 0, 1,
			[]q{{2, ReasonBadNumber}}, []string{"A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "results.csv")
			if err := os.WriteFile(in, []byte(header+"\n"+tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "r.parquet")
			rep, err := Run(context.Background(), mustLookup(t, "martj42"), Config{Inputs: []string{in}, Output: out, MaxBadRatio: 1, MaxLineBytes: tt.maxLine})
			if err != nil {
				t.Fatal(err)
			}
			recs := readQuarantine(t, rep.Quarantine)
			var got []q
			for _, r := range recs {
				got = append(got, q{r.Line, r.Reason})
			}
			if rep.Wrote != tt.wrote || fmt.Sprint(got) != fmt.Sprint(tt.quar) {
				t.Fatalf("%s, quarantine %v; want wrote %d, quarantine %v", rep.Summary(), got, tt.wrote, tt.quar)
			}
			rows, err := ReadResults(out)
			if err != nil {
				t.Fatal(err)
			}
			var cities []string
			for _, r := range rows {
				cities = append(cities, r.City)
			}
			if fmt.Sprint(cities) != fmt.Sprint(tt.cities) {
				t.Errorf("cities %q, want %q", cities, tt.cities)
			}
		})
	}
}

// TestMaxLineBytesJSONL: the limit applies to JSON Lines too.
func TestMaxLineBytesJSONL(t *testing.T) {
	good := `{"FlightDate":"2015-01-01","Origin":"ABQ","Dest":"DFW","ArrDelay":1}`
	long := `{"FlightDate":"2015-01-01","Origin":"ABQ","Dest":"DFW","ArrDelay":1,"Carrier":"` + strings.Repeat("A", 500) + `"}`
	jl := filepath.Join(t.TempDir(), "f.jsonl")
	if err := os.WriteFile(jl, []byte(good+"\n"+long+"\n"+good+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), mustLookup(t, "flights-jsonl"), Config{
		Inputs: []string{jl}, Output: filepath.Join(t.TempDir(), "f.parquet"), Distances: distancesJSONL(t), MaxBadRatio: 1, MaxLineBytes: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := readQuarantine(t, rep.Quarantine)
	if rep.Wrote != 2 || len(recs) != 1 || recs[0].Line != 2 || recs[0].Reason != ReasonLineTooLong || !strings.Contains(recs[0].Detail, fmt.Sprintf("%d bytes", len(long))) {
		t.Fatalf("%s; quarantine %+v, want line 2 line_too_long (%d bytes)", rep.Summary(), recs, len(long))
	}
}
