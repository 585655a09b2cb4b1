package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRealDataCounts ingests every real data set of the mirror and checks
// the counts the acceptance criteria name.
func TestRealDataCounts(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		inputs  []string
		wrote   int64
		reasons map[Reason]int64
	}{
		{"matches", []string{matchesCSV(t)}, 23921, nil},
		{"martj42", []string{resultsCSV(t)}, 49520, nil},
		{"bts2008", bts2008CSVs(t), 69484, map[Reason]int64{ReasonCancelled: 372, ReasonDiverted: 144}},
		{"bts2017", []string{bts2017CSV(t)}, 9905, map[Reason]int64{ReasonCancelled: 76, ReasonDiverted: 18}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runIngest(t, tt.name, tt.inputs, filepath.Join(dir, tt.name+".parquet"))
			var q int64
			for _, n := range tt.reasons {
				q += n
			}
			if rep.Wrote != tt.wrote || rep.Quarantined != q || rep.Read != tt.wrote+q || rep.Malformed != 0 {
				t.Errorf("%s; malformed %d; want wrote %d, quarantined %d", rep.Summary(), rep.Malformed, tt.wrote, q)
			}
			for r, n := range tt.reasons {
				if rep.Reasons[r] != n {
					t.Errorf("reason %s: %d rows, want %d", r, rep.Reasons[r], n)
				}
			}
			recs := readQuarantine(t, rep.Quarantine)
			if int64(len(recs)) != rep.Quarantined {
				t.Errorf("quarantine file has %d records, report says %d", len(recs), rep.Quarantined)
			}
			t.Logf("%s %v (Distance joined %d, unknown %d)", rep.Summary(), rep.ReasonLines(), rep.DistanceJoined, rep.DistanceUnknown)
		})
	}
}

// TestMatchesValues checks the matches output against an independent reading
// of the CSV with encoding/csv: nulls where cells are empty (never 0), the
// booleans, the dates.
func TestMatchesValues(t *testing.T) {
	out := filepath.Join(t.TempDir(), "matches.parquet")
	runIngest(t, "matches", []string{matchesCSV(t)}, out)
	rows, err := ReadMatches(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(matchesCSV(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[1:]
	if len(rows) != len(recs) {
		t.Fatalf("%d rows, CSV has %d", len(rows), len(recs))
	}
	nulls := 0
	for i, rec := range recs {
		r := rows[i]
		if got := r.Date.String(); got != rec[0] || r.HomeTeam != rec[1] || r.City != rec[12] {
			t.Fatalf("row %d: date/team/city %s %q %q, CSV %q", i, got, r.HomeTeam, r.City, rec[:13])
		}
		if strconv.Itoa(int(r.HomeTeamFIFARank)) != rec[5] || strconv.Itoa(int(r.AwayTeamTotalFIFAPoints)) != rec[8] {
			t.Fatalf("row %d: rank/points differ from CSV", i)
		}
		if r.NeutralLocation != (rec[14] == "True") || r.ShootOut != (rec[15] == "Yes") || r.HomeTeamResult != rec[16] {
			t.Fatalf("row %d: booleans/result differ from CSV %q", i, rec[14:17])
		}
		scores := []*float64{r.HomeTeamGoalkeeperScore, r.AwayTeamGoalkeeperScore, r.HomeTeamMeanDefenseScore,
			r.HomeTeamMeanOffenseScore, r.HomeTeamMeanMidfieldScore, r.AwayTeamMeanDefenseScore,
			r.AwayTeamMeanOffenseScore, r.AwayTeamMeanMidfieldScore}
		for k, s := range scores {
			cell := rec[17+k]
			if cell == "" {
				if s != nil {
					t.Fatalf("row %d col %s: empty cell read back as %v, want null", i, matchesHeader[17+k], *s)
				}
				nulls++
				continue
			}
			want, _ := strconv.ParseFloat(cell, 64)
			if s == nil || *s != want {
				t.Fatalf("row %d col %s: %v, want %v", i, matchesHeader[17+k], s, want)
			}
		}
	}
	if nulls < 8*15000 {
		t.Errorf("only %d null squad scores; the source has ~15-16k empty cells per column", nulls)
	}
}

// TestBTS2008Values spot-checks the flight schema on the first BTS row and
// invariants on all rows.
func TestBTS2008Values(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bts2008.parquet")
	runIngest(t, "bts2008", bts2008CSVs(t), out)
	rows, err := ReadFlights(out)
	if err != nil {
		t.Fatal(err)
	}
	// 2008,4,3,4,1201,1140,1352,1305,WN,165,N333SW,111,85,97,47,21,MCI,BNA,491,…
	r := rows[0]
	date := time.Date(2008, 4, 3, 0, 0, 0, 0, time.UTC)
	if r.FlightDate != NewDate(2008, 4, 3) || *r.Carrier != "WN" || *r.FlightNum != "165" || r.Origin != "MCI" || r.Dest != "BNA" ||
		r.DayOfMonth != 3 || r.DayOfWeek != 4 || r.DayOfYear != 94 || *r.DepDelay != 21 || r.ArrDelay != 47 || *r.Distance != 491 ||
		!r.CRSDepTime.Equal(date.Add(11*time.Hour+40*time.Minute)) || !r.CRSArrTime.Equal(date.Add(13*time.Hour+5*time.Minute)) {
		t.Errorf("first row = %+v", r)
	}
	for i, r := range rows {
		if r.DayOfWeek < 1 || r.DayOfWeek > 7 || isoWeekday(r.FlightDate.Time()) != r.DayOfWeek || r.Distance == nil ||
			r.CRSDepTime == nil || r.CRSArrTime.Before(*r.CRSDepTime) || math.IsNaN(r.ArrDelay) {
			t.Fatalf("row %d violates the flight invariants: %+v", i, r)
		}
	}
}

func TestScheduleTimes(t *testing.T) {
	d := NewDate(2008, 4, 3)
	for _, tt := range []struct {
		dep, arr       string
		wantDep, wantA string
	}{
		{"1140", "1305", "2008-04-03T11:40:00Z", "2008-04-03T13:05:00Z"},
		{"2330", "115", "2008-04-03T23:30:00Z", "2008-04-04T01:15:00Z"},  // overnight
		{"2400", "2400", "2008-04-04T00:00:00Z", "2008-04-04T00:00:00Z"}, // 2400 = next day 00:00
		{"0", "5", "2008-04-03T00:00:00Z", "2008-04-03T00:05:00Z"},
	} {
		dm, e1 := parseHHMM("dep", []byte(tt.dep))
		am, e2 := parseHHMM("arr", []byte(tt.arr))
		if e1 != nil || e2 != nil {
			t.Fatal(e1, e2)
		}
		dep, arr := scheduleTimes(d, dm, am)
		if dep.Format(time.RFC3339) != tt.wantDep || arr.Format(time.RFC3339) != tt.wantA {
			t.Errorf("%s/%s → %v %v", tt.dep, tt.arr, dep, arr)
		}
	}
	for _, bad := range []string{"2401", "1260", "-5", "12a", "99999"} {
		if _, e := parseHHMM("t", []byte(bad)); e == nil || e.reason != ReasonBadTime {
			t.Errorf("parseHHMM(%q) = %v, want bad_time", bad, e)
		}
	}
}

// TestInjectedBrokenRows appends broken copies of real rows to the matches
// CSV and checks that exactly those rows are quarantined, with the right
// line numbers, raw text and reasons, and that all others are written.
func TestInjectedBrokenRows(t *testing.T) {
	src, err := os.ReadFile(matchesCSV(t))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n"), "\n")
	good := lines[1] // 1993-08-08,Bolivia,Uruguay,…
	fields := strings.Split(good, ",")
	with := func(i int, v string) string {
		f := append([]string(nil), fields...)
		f[i] = v
		return strings.Join(f, ",")
	}
	broken := []struct {
		at     int // index in lines (line number - 1) to insert before
		raw    string
		reason Reason
	}{
		{100, with(5, "59x"), ReasonBadNumber},
		{2000, strings.Join(fields[:24], ","), ReasonWrongColumnCount},
		{5000, with(0, "1993-02-30"), ReasonBadDate},
		{9000, with(1, "Bol\xffvia"), ReasonInvalidUTF8},
		{12000, with(14, "Maybe"), ReasonBadBool},
		{15000, with(12, `"La Paz`), ReasonMalformedCSV},
		{20000, with(17, "7O.0"), ReasonBadNumber},
	}
	var out []string
	want := map[int64]Reason{}
	next := 0
	for i, l := range lines {
		if next < len(broken) && broken[next].at == i {
			out = append(out, broken[next].raw)
			want[int64(len(out))] = broken[next].reason
			next++
		}
		out = append(out, l)
	}
	in := filepath.Join(t.TempDir(), "broken.csv")
	if err := os.WriteFile(in, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(t.TempDir(), "m.parquet")
	rep := runIngest(t, "matches", []string{in}, outPath)
	if rep.Wrote != 23921 || rep.Quarantined != int64(len(broken)) || rep.Malformed != int64(len(broken)) {
		t.Fatalf("%s (malformed %d), want wrote 23921, quarantined %d", rep.Summary(), rep.Malformed, len(broken))
	}
	recs := readQuarantine(t, rep.Quarantine)
	if len(recs) != len(broken) {
		t.Fatalf("%d quarantine records, want %d", len(recs), len(broken))
	}
	for k, rec := range recs {
		if want[rec.Line] != rec.Reason || rec.File != in || rec.Excluded {
			t.Errorf("record %d: %s line %d reason %s excluded %v; want reason %s", k, rec.File, rec.Line, rec.Reason, rec.Excluded, want[rec.Line])
		}
		raw := rec.Raw
		if rec.RawBase64 != "" {
			raw = decodeB64(t, rec.RawBase64)
		}
		if raw != broken[k].raw {
			t.Errorf("record %d raw %q, want %q", k, raw, broken[k].raw)
		}
		if rec.Detail == "" {
			t.Errorf("record %d has no detail", k)
		}
	}
	if _, err := ReadMatches(outPath); err != nil {
		t.Fatal(err)
	}
}

// TestBadRatioFails checks that too many malformed rows fail the run with a
// *BadRatioError, leave no Parquet output, and still write the quarantine.
func TestBadRatioFails(t *testing.T) {
	rows := firstLines(t, resultsCSV(t), 0, 11) // header + 10 rows
	rows[3] = strings.Replace(rows[3], "1874", "18x4", 1)
	rows[4] = rows[4] + ",extra"
	dir := t.TempDir()
	in := filepath.Join(dir, "results.csv")
	if err := os.WriteFile(in, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "r.parquet")
	rep, err := Run(context.Background(), mustLookup(t, "martj42"), Config{Inputs: []string{in}, Output: out, MaxBadRatio: 0.1})
	var bad *BadRatioError
	if !errors.As(err, &bad) {
		t.Fatalf("err = %v, want *BadRatioError", err)
	}
	if rep.Read != 10 || rep.Malformed != 2 || rep.Wrote != 8 {
		t.Errorf("%s malformed %d", rep.Summary(), rep.Malformed)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("Parquet output exists after a failed run: %v", err)
	}
	if recs := readQuarantine(t, QuarantinePath(out)); len(recs) != 2 {
		t.Errorf("quarantine has %d records, want 2", len(recs))
	}
	// The same input within the ratio succeeds.
	if _, err := Run(context.Background(), mustLookup(t, "martj42"), Config{Inputs: []string{in}, Output: out, MaxBadRatio: 0.2}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestWrongHeaderIsAnError(t *testing.T) {
	_, err := Run(context.Background(), mustLookup(t, "matches"), Config{
		Inputs: []string{resultsCSV(t)}, Output: filepath.Join(t.TempDir(), "x.parquet"), MaxBadRatio: 1,
	})
	if err == nil || !strings.Contains(err.Error(), "right file") {
		t.Fatalf("err = %v, want a header mismatch", err)
	}
}

func TestDefaultInputPaths(t *testing.T) {
	_, err := mustLookup(t, "bts2008").DefaultInputPaths(t.TempDir())
	if !errors.Is(err, ErrMissingInput) || !strings.Contains(err.Error(), "datalab data pull bts2008") {
		t.Errorf("err = %v, want a hint to run datalab data pull bts2008", err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bts2008"), 0o755)
	for _, n := range []string{"flights_2008_5_1.csv", "flights_2008_4_2.csv", "other.csv"} {
		os.WriteFile(filepath.Join(dir, "bts2008", n), nil, 0o644)
	}
	got, err := mustLookup(t, "bts2008").DefaultInputPaths(dir)
	if err != nil || len(got) != 2 || filepath.Base(got[0]) != "flights_2008_4_2.csv" {
		t.Errorf("got %v, %v", got, err)
	}
}

// TestDeterministic checks that two runs on the same input give
// byte-identical Parquet and quarantine files.
func TestDeterministic(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inputs []string
	}{{"bts2008", bts2008CSVs(t)}, {"matches", []string{matchesCSV(t)}}, {"bts2017", []string{bts2017CSV(t)}}} {
		var files [2][2][]byte
		for i := range 2 {
			out := filepath.Join(t.TempDir(), tt.name+".parquet")
			rep := runIngest(t, tt.name, tt.inputs, out)
			var err error
			if files[i][0], err = os.ReadFile(out); err != nil {
				t.Fatal(err)
			}
			if files[i][1], err = os.ReadFile(rep.Quarantine); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(files[0][0], files[1][0]) {
			t.Errorf("%s: Parquet differs between two runs", tt.name)
		}
		if !bytes.Equal(files[0][1], files[1][1]) {
			t.Errorf("%s: quarantine differs between two runs", tt.name)
		}
	}
}
