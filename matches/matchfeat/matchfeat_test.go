package matchfeat_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

var (
	realOnce sync.Once
	realRows []ingest.MatchRow
	realErr  error
)

// realMatches ingests the Kaggle matches from the mirror once per test binary.
func realMatches(t *testing.T) []ingest.MatchRow {
	t.Helper()
	src := testmirror.Path(t, "matches", "international_matches.csv")
	realOnce.Do(func() {
		ds, _ := ingest.Lookup("matches")
		out := filepath.Join(t.TempDir(), "matches.parquet")
		if _, realErr = ingest.Run(context.Background(), ds, ingest.Config{Inputs: []string{src}, Output: out, MaxBadRatio: 0}); realErr != nil {
			return
		}
		realRows, realErr = ingest.ReadMatches(out)
	})
	if realErr != nil {
		t.Fatal(realErr)
	}
	return append([]ingest.MatchRow(nil), realRows...)
}

func f64(v float64) *float64 { return &v }

func match(date ingest.Date, home, away string, hg, ag int32, hr, ar int32) ingest.MatchRow {
	return ingest.MatchRow{Date: date, HomeTeam: home, AwayTeam: away, HomeTeamContinent: "Europe", AwayTeamContinent: "Europe",
		HomeTeamFIFARank: hr, AwayTeamFIFARank: ar, HomeTeamScore: hg, AwayTeamScore: ag, Tournament: "Friendly"}
}

// TestLookupByHand checks the state rules on three hand-written matches:
// pre-match attributes visible from their own day, results only after it.
func TestLookupByHand(t *testing.T) {
	d1, d2, d3 := ingest.NewDate(2020, 3, 1), ingest.NewDate(2020, 3, 5), ingest.NewDate(2020, 3, 9)
	a1 := match(d1, "A", "B", 2, 0, 10, 20)
	a1.HomeTeamMeanOffenseScore = f64(80)
	a2 := match(d2, "B", "A", 1, 1, 19, 11)
	a2.NeutralLocation = true
	a3 := match(d3, "A", "C", 0, 3, 12, 30)
	lk, err := matchfeat.BuildLookup([]ingest.MatchRow{a3, a1, a2}) // any order
	if err != nil {
		t.Fatal(err)
	}

	// As of d1: A has its d1 rank but no result yet.
	st, ok := lk.Team("A", d1)
	if !ok || st.Rank != 10 || st.Form.Played != 0 || st.Form.Elo != matchfeat.EloStart || st.Squad.Offense == nil || *st.Squad.Offense != 80 {
		t.Fatalf("A as of d1 = %+v", st)
	}
	if _, ok := lk.Team("A", d1-1); ok {
		t.Fatal("A known before its first match")
	}
	// After d1: A won 2-0 at home. Elo: K=20, goal factor 1.5, expected
	// with +100 home advantage.
	wantDelta := 20 * 1.5 * (1 - matchfeat.EloExpected(100))
	st, _ = lk.Team("A", d1+1)
	if st.Form.Played != 1 || st.Form.Points != 3 || st.Form.GoalDiff != 2 || math.Abs(st.Form.Elo-(1500+wantDelta)) > 1e-9 {
		t.Fatalf("A after d1 = %+v, want Elo %v", st.Form, 1500+wantDelta)
	}
	// As of d2: rank updated to the d2 row (11), form still after d1; the
	// EA score carries forward.
	st, _ = lk.Team("A", d2)
	if st.Rank != 11 || st.Form.Played != 1 || st.Squad.Offense == nil {
		t.Fatalf("A as of d2 = %+v", st)
	}
	// As of d3+1: two draws/wins/losses averaged over the window.
	st, _ = lk.Team("A", d3+1)
	if st.Form.Played != 3 || st.Form.Points != (3+1+0)/3.0 || st.Form.GoalDiff != (2+0-3)/3.0 {
		t.Fatalf("A after d3 = %+v", st.Form)
	}
	// Head-to-head of A vs B: none before d1, one win as of d2, win+draw after.
	if n, s, g := lk.HeadToHead("A", "B", d1); n != 0 || s != 0.5 || g != 0 {
		t.Fatalf("h2h as of d1 = %d %v %v", n, s, g)
	}
	if n, s, g := lk.HeadToHead("B", "A", d2); n != 1 || s != 0 || g != -2 {
		t.Fatalf("h2h B vs A as of d2 = %d %v %v", n, s, g)
	}
	if n, s, g := lk.HeadToHead("A", "B", d3); n != 2 || s != 0.75 || g != 1 {
		t.Fatalf("h2h A vs B as of d3 = %d %v %v", n, s, g)
	}
	if _, err := lk.Features("A", "Z", false, d3); !errors.Is(err, matchfeat.ErrUnknownTeam) {
		t.Fatalf("unknown team: %v", err)
	}
}

// vectors encodes the features of every match as of its date for every
// variant.
func vectors(t *testing.T, lk *matchfeat.Lookup, rows []ingest.MatchRow) map[string][][]float64 {
	t.Helper()
	tr, err := matchfeat.TrainingRows(lk, rows)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]float64{}
	for _, name := range matchfeat.VariantNames() {
		v := matchfeat.Variants[name]
		enc, err := matchfeat.NewEncoder(v, v.FitLabels(rows))
		if err != nil {
			t.Fatal(err)
		}
		for i := range tr {
			x := make([]float64, enc.Width())
			enc.Encode(&tr[i].Features, x)
			out[name] = append(out[name], x)
		}
	}
	return out
}

func sameVector(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// TestNoLeakage is the leakage test on the real data: changing everything
// about the matches after a cut-off day, and the results of the matches on
// that day, must not change any feature of a match on or before that day.
func TestNoLeakage(t *testing.T) {
	rows := realMatches(t)
	cut := ingest.NewDate(2014, 6, 12) // World Cup 2014 opening day
	base, err := matchfeat.BuildLookup(rows)
	if err != nil {
		t.Fatal(err)
	}
	want := vectors(t, base, rows)

	mutated := append([]ingest.MatchRow(nil), rows...)
	changedOnCut := 0
	for i := range mutated {
		r := &mutated[i]
		switch {
		case r.Date == cut:
			r.HomeTeamScore, r.AwayTeamScore = r.AwayTeamScore+3, r.HomeTeamScore
			changedOnCut++
		case r.Date > cut:
			r.HomeTeamScore, r.AwayTeamScore = int32(i%5), int32(i%3)
			r.HomeTeamFIFARank, r.AwayTeamFIFARank = 1, 200
			r.HomeTeamTotalFIFAPoints = 9999
			r.HomeTeamMeanOffenseScore = f64(99)
			r.NeutralLocation = !r.NeutralLocation
		}
	}
	if changedOnCut == 0 {
		t.Fatal("no match on the cut-off day; pick another")
	}
	lk, err := matchfeat.BuildLookup(mutated)
	if err != nil {
		t.Fatal(err)
	}
	got := vectors(t, lk, mutated)
	checked, changedAfter := 0, 0
	for name := range want {
		for i := range rows {
			same := sameVector(want[name][i], got[name][i])
			if rows[i].Date <= cut {
				checked++
				if !same {
					t.Fatalf("variant %s: features of %s %s vs %s changed when later results changed:\n%v\n%v",
						name, rows[i].Date, rows[i].HomeTeam, rows[i].AwayTeam, want[name][i], got[name][i])
				}
			} else if !same {
				changedAfter++
			}
		}
	}
	// The mutation must be visible after the cut (else the test proves nothing).
	if checked == 0 || changedAfter == 0 {
		t.Fatalf("checked %d rows, %d later rows changed", checked, changedAfter)
	}
}

// TestSavedLookupGivesTrainingFeatures: the lookup as saved (JSON) and read
// back gives every training row exactly the features computed in memory,
// and each row's own FIFA ranks are what the lookup reports as of its day.
func TestSavedLookupGivesTrainingFeatures(t *testing.T) {
	rows := realMatches(t)
	lk, err := matchfeat.BuildLookup(rows)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lookup.json")
	if err := matchfeat.WriteLookup(path, lk); err != nil {
		t.Fatal(err)
	}
	back, err := matchfeat.ReadLookup(path)
	if err != nil {
		t.Fatal(err)
	}
	want, got := vectors(t, lk, rows), vectors(t, back, rows)
	for name := range want {
		for i := range rows {
			if !sameVector(want[name][i], got[name][i]) {
				t.Fatalf("variant %s row %d: %v vs %v", name, i, want[name][i], got[name][i])
			}
		}
	}
	tr, _ := matchfeat.TrainingRows(back, rows)
	mismatch := 0
	for i, r := range tr {
		if r.Features.Home.Rank != rows[i].HomeTeamFIFARank || r.Features.Away.Rank != rows[i].AwayTeamFIFARank {
			mismatch++
		}
	}
	// A team with two rows on one day (a data-entry duplicate) takes the
	// later row's rank; nothing else may differ.
	if mismatch > 10 {
		t.Fatalf("%d rows' ranks differ from the lookup as of their day", mismatch)
	}
	b1, _ := matchfeat.MarshalLookup(lk)
	b2, _ := matchfeat.MarshalLookup(back)
	if string(b1) != string(b2) {
		t.Fatal("lookup JSON does not round-trip byte for byte")
	}
	if !json.Valid(b1) {
		t.Fatal("lookup JSON invalid")
	}
}

// TestFeaturesFile writes the feature table and reads it back.
func TestFeaturesFile(t *testing.T) {
	rows := realMatches(t)
	lk, _ := matchfeat.BuildLookup(rows)
	tr, err := matchfeat.TrainingRows(lk, rows)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "features.parquet")
	if err := matchfeat.WriteFeatures(path, tr); err != nil {
		t.Fatal(err)
	}
	recs, err := matchfeat.ReadFeatures(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(rows) {
		t.Fatalf("%d records for %d rows", len(recs), len(rows))
	}
	want, _ := matchfeat.NewRecord(&tr[100])
	if !reflect.DeepEqual(recs[100].HomeTeam, want.HomeTeam) || recs[100].EloDiff != want.EloDiff || recs[100].HomeWin != want.HomeWin {
		t.Fatalf("record 100 = %+v, want %+v", recs[100], want)
	}
}

// TestCanonicalTeam checks the spelling table.
func TestCanonicalTeam(t *testing.T) {
	lk, err := matchfeat.BuildLookup([]ingest.MatchRow{match(ingest.NewDate(2020, 1, 1), "IR Iran", "USA", 1, 0, 20, 16),
		match(ingest.NewDate(2020, 1, 2), "Korea Republic", "Wales", 1, 0, 28, 19)})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"Iran": "IR Iran", "IR Iran": "IR Iran", "United States": "USA", "South Korea": "Korea Republic", "Wales": "Wales"} {
		if got, err := lk.CanonicalTeam(in); err != nil || got != want {
			t.Errorf("CanonicalTeam(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := lk.CanonicalTeam("Atlantis"); !errors.Is(err, matchfeat.ErrUnknownTeam) {
		t.Errorf("Atlantis: %v", err)
	}
}

// TestLabels checks the class mapping of both class sets.
func TestLabels(t *testing.T) {
	seed, three := matchfeat.Variants["seed"], matchfeat.Variants["form3"]
	for _, c := range []struct {
		h, a          int32
		binary, three int
	}{{2, 1, 1, 0}, {1, 1, 0, 1}, {0, 3, 0, 2}} {
		if b, _ := seed.Label(c.h, c.a); b != c.binary {
			t.Errorf("binary %d-%d = %d", c.h, c.a, b)
		}
		if k, _ := three.Label(c.h, c.a); k != c.three {
			t.Errorf("three-way %d-%d = %d", c.h, c.a, k)
		}
	}
}

// FuzzReadLookup: any JSON that parses and validates as a lookup must answer
// Features for any pair of its teams on any day without panicking.
func FuzzReadLookup(f *testing.F) {
	lk, _ := matchfeat.BuildLookup([]ingest.MatchRow{match(ingest.NewDate(2020, 1, 1), "A", "B", 1, 0, 10, 20),
		match(ingest.NewDate(2020, 2, 1), "B", "C", 2, 2, 19, 30)})
	b, _ := matchfeat.MarshalLookup(lk)
	f.Add(b, int32(18262))
	f.Add([]byte(`{"schema":"datalab.matchfeat.lookup/v1","teams":{"A":[]},"h2h":{"A|B":[{"date":"2020-01-01","gd":1}]}}`), int32(0))
	f.Fuzz(func(t *testing.T, data []byte, day int32) {
		lk, err := matchfeat.ParseLookup(data)
		if err != nil {
			return
		}
		names := lk.TeamNames()
		for _, h := range names {
			for _, a := range names {
				if h != a {
					lk.Features(h, a, false, ingest.Date(day))
				}
			}
		}
	})
}
