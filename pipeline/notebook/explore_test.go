package notebook_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/nbview"
	"github.com/datalabhq/datalab/pipeline/notebook"
)

// ingestMirror ingests data set name from the mirror files inputs into
// dir/<name>.parquet, as `datalab ingest` does (distance table included).
func ingestMirror(t *testing.T, dir, name string, inputs ...string) string {
	t.Helper()
	ds, ok := ingest.Lookup(name)
	if !ok {
		t.Fatalf("data set %s not registered", name)
	}
	out := filepath.Join(dir, name+".parquet")
	if _, err := ingest.Run(context.Background(), ds, ingest.Config{Inputs: inputs, Output: out,
		Distances: mirrorDistances(t), MaxBadRatio: ingest.DefaultMaxBadRatio}); err != nil {
		t.Fatalf("ingest %s: %v", name, err)
	}
	return out
}

func mirrorDistances(t *testing.T) string {
	return testmirror.Path(t, "flights", "origin_dest_distances.jsonl")
}

// render runs notebooks/<name>.ipynb with params into a fresh directory and
// returns the rendered page.
func render(t *testing.T, root, name string, params map[string]string) []byte {
	t.Helper()
	r := notebook.Runner{Root: root, OutDir: t.TempDir(), Params: params}
	res, err := r.Run(t.Context(), filepath.Join(root, "notebooks", name+".ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %v rendered in %v", name, params, res.Duration)
	page, err := os.ReadFile(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

var pngRE = regexp.MustCompile(`data:image/png;base64,([A-Za-z0-9+/=]+)`)

// pngs are the page's embedded PNG images (base64), in page order.
func pngs(page []byte) []string {
	var out []string
	for _, m := range pngRE.FindAllSubmatch(page, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// checkPage fails for each wanted string the page lacks, and unless it has
// exactly nPNG embedded PNG images and at least nTables tables.
func checkPage(t *testing.T, page []byte, nPNG, nTables int, want ...string) {
	t.Helper()
	if got := len(pngs(page)); got != nPNG {
		t.Errorf("page embeds %d PNG images, want %d", got, nPNG)
	}
	if got := bytes.Count(page, []byte("<table")); got < nTables {
		t.Errorf("page has %d tables, want at least %d", got, nTables)
	}
	if bytes.Contains(page, []byte("<svg")) {
		t.Errorf("page has an SVG image; plots must be PNG")
	}
	for _, w := range want {
		if !bytes.Contains(page, []byte(w)) {
			t.Errorf("rendered notebook lacks %q", w)
		}
	}
}

func pageMetrics(t *testing.T, page []byte) map[string]float64 {
	t.Helper()
	m, err := nbview.Metrics(page)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestMatchesExplore runs the real notebook on matches ingested from the
// mirror, sampled to keep it quick: the page has its tables and PNG plots,
// its home win rates are those of the rows it read, a smaller sample changes
// every figure, and a rerun with the same parameters renders the same bytes.
func TestMatchesExplore(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	mp := ingestMirror(t, t.TempDir(), "matches", testmirror.Path(t, "matches", "international_matches.csv"))
	params := func(sample string) map[string]string { return map[string]string{"matches": mp, "sample": sample} }
	page := render(t, root, "matches-explore", params("5000"))

	t.Run("content", func(t *testing.T) {
		checkPage(t, page, 3, 6, "5000 matches, 1993-08-08", "DataFrame: 5000 rows", "<th>home_team_fifa_rank</th>",
			"none of the 5000 matches has all eight EA scores", "<td>home_team_total_fifa_points</td>",
			"home win rate", "<td>neutral</td>", "<td>1993</td>", "<td>Friendly</td>", "<td>−5 … 5</td>")
		rows, err := ingest.ReadMatches(mp)
		if err != nil {
			t.Fatal(err)
		}
		var n, wins [2]int // index 1: neutral venue
		for _, m := range rows[:5000] {
			k := 0
			if m.NeutralLocation {
				k = 1
			}
			n[k]++
			if m.HomeTeamResult == "Win" {
				wins[k]++
			}
		}
		want := map[string]float64{
			"home_win_rate_home_ground": 100 * float64(wins[0]) / float64(n[0]),
			"home_win_rate_neutral":     100 * float64(wins[1]) / float64(n[1]),
		}
		want["home_advantage_pp"] = want["home_win_rate_home_ground"] - want["home_win_rate_neutral"]
		got := pageMetrics(t, page)
		for k, v := range want {
			if g, ok := got[k]; !ok || !near(g, v) {
				t.Errorf("metric %s = %v (shown: %v), want %v from the first 5000 ingested rows", k, g, ok, v)
			}
		}
	})

	t.Run("sample changes the figures", func(t *testing.T) {
		small := render(t, root, "matches-explore", params("3000"))
		if !bytes.Contains(small, []byte("3000 matches, 1993-08-08")) {
			t.Errorf("sample=3000 page lacks its row count")
		}
		a, b := pngs(page), pngs(small)
		if len(a) != len(b) {
			t.Fatalf("sample 5000 embeds %d PNGs, sample 3000 %d", len(a), len(b))
		}
		for i := range a {
			if a[i] == b[i] {
				t.Errorf("PNG %d is the same for sample 5000 and 3000", i+1)
			}
		}
		again := render(t, root, "matches-explore", params("5000"))
		if !bytes.Equal(page, again) {
			t.Errorf("two renderings with sample=5000 differ (%d and %d bytes): the page must be deterministic", len(page), len(again))
		}
	})
}

// TestFlightsExplore runs flights-explore on BTS 2008 and flights-3m
// ingested from the mirror, reading the first 20000 rows of each: the page
// has its tables and PNG plots, and its late_30+ shares are the label
// stage's buckets of the rows it read.
func TestFlightsExplore(t *testing.T) {
	t.Parallel()
	root := needKernel(t)
	dir := t.TempDir()
	csvs, err := filepath.Glob(testmirror.Path(t, "flights", "bts2008", "flights_2008_*.csv"))
	if err != nil || len(csvs) == 0 {
		t.Fatalf("BTS 2008 files in the mirror: %v (%v)", csvs, err)
	}
	bts := ingestMirror(t, dir, "bts2008", csvs...)
	f3m := ingestMirror(t, dir, "flights3m", testmirror.Path(t, "flights", "vega", "flights-3m.parquet"))
	const sample = 20000
	page := render(t, root, "flights-explore", map[string]string{
		"bts": bts, "flights3m": f3m, "distances": mirrorDistances(t), "sample": "20000"})

	checkPage(t, page, 7, 12, "<td>BTS 2008</td>", "<td>flights-3m</td>", "<td>3000000</td>", "<td>20000</td>",
		"<td>late_30+</td>", "<td>[30.0, Inf]</td>", "<td>CRSArrTime</td>", "distance table: ",
		"Busiest routes the table lacks", "<td>WN</td>", "<td>≥ 120</td>")

	got := pageMetrics(t, page)
	for key, path := range map[string]string{"bts2008_late30_share": bts, "flights3m_late30_share": f3m} {
		want := late30Share(t, path, sample)
		if g, ok := got[key]; !ok || !near(g, want) {
			t.Errorf("metric %s = %v (shown: %v), want %v from the first %d ingested rows", key, g, ok, want, sample)
		}
	}
	if r := got["bts2008_corr_dep_arr"]; !(r > 0.5 && r <= 1) {
		t.Errorf("DepDelay–ArrDelay correlation %v, want a strong positive one", r)
	}
}

// late30Share is the share (%) of the first n flights of a Parquet file in
// the label stage's last bucket (late_30+).
func late30Share(t *testing.T, path string, n int) float64 {
	t.Helper()
	label := flightfeat.LabelBucketizer()
	last := float64(len(flightfeat.ClassNames) - 1)
	done := errors.New("done")
	seen, late := 0, 0
	err := ingest.ScanFlights(t.Context(), path, func(rows []ingest.FlightRow) error {
		for _, r := range rows {
			if seen == n {
				return done
			}
			seen++
			b, err := label.Bucket(r.ArrDelay)
			if err != nil {
				return err
			}
			if b == last {
				late++
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, done) {
		t.Fatal(err)
	}
	return 100 * float64(late) / float64(seen)
}
