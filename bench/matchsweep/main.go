// Command matchsweep scores match-model candidates on the validation year —
// a training year; the test year (2022) and the World Cup are never read.
// For every point of the grid (variants × trees × depths × min instances ×
// feature subsets × bins) it calls matchmodel.ValidateVariant, the function
// the train stage uses: fit on the years before -year, score -year, choose
// the three-way draw margin there. The two baselines (Elo ordered logit
// fitted the same way, "better FIFA rank wins") come first.
//
//	go run ./bench/matchsweep -variants form3,elo3,diff3 -depths 4,6,8,10,12 \
//	    -mins 20,50,100,200 -subsets sqrt,onethird,all > sweep.txt
//
// bench/matchsweep/run.sh runs the grids of docs/experiments.md ("Finding a
// better served match model"); results-2021.txt is their output. Columns:
// three-way accuracy, RPS and log loss (with the chosen draw rule), the
// draw margin, draws predicted/actual, accuracy and RPS as home win vs not,
// seconds. The data comes from $DATALAB_MIRROR, ingested into -work once.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/pipeline/evaluate"
	"github.com/datalabhq/datalab/pipeline/forest"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return v
}

func main() {
	variants := flag.String("variants", "form3", "comma-separated match variants (matches/matchfeat)")
	trees := flag.String("trees", "300", "comma-separated num_trees values")
	depths := flag.String("depths", "8", "comma-separated max_depth values")
	mins := flag.String("mins", "20", "comma-separated min_instances_per_node values")
	subsets := flag.String("subsets", "sqrt", "comma-separated feature_subset values")
	bins := flag.String("bins", "64", "comma-separated max_bins values")
	year := flag.Int("year", 2021, "validation year (a training year)")
	maxMargin := flag.Float64("max-draw-margin", 0.3, "largest draw margin tried")
	dir := flag.String("work", filepath.Join(os.TempDir(), "matchsweep"), "directory for the ingested matches and the lookup")
	flag.Parse()
	ctx := context.Background()
	mirror := os.Getenv("DATALAB_MIRROR")
	if mirror == "" {
		fmt.Fprintln(os.Stderr, "matchsweep: set DATALAB_MIRROR to the data mirror (e.g. /work/shared/data)")
		os.Exit(2)
	}
	must(0, os.MkdirAll(*dir, 0o755))
	mp := filepath.Join(*dir, "matches.parquet")
	lp := filepath.Join(*dir, "lookup.json")
	if _, err := os.Stat(lp); err != nil {
		ds, _ := ingest.Lookup("matches")
		must(ingest.Run(ctx, ds, ingest.Config{Inputs: []string{filepath.Join(mirror, "matches", "international_matches.csv")}, Output: mp}))
		if _, _, err := matchmodel.FeaturesStage(mp, lp, filepath.Join(*dir, "features.parquet")); err != nil {
			must(0, err)
		}
	}
	d := must(matchmodel.LoadData(mp, lp, 2022))
	// Elo baseline on the validation year.
	vd := *d
	vd.Train, vd.Test = nil, nil
	for _, i := range d.Train {
		switch y := d.Matches[i].Date.Time().Year(); {
		case y < *year:
			vd.Train = append(vd.Train, i)
		case y == *year:
			vd.Test = append(vd.Test, i)
		}
	}
	elo := must(matchmodel.FitEloLogit(&vd, vd.Train))
	var y3, yb []int
	var p3, pb [][]float64
	rankRight3, rankRightB := 0, 0
	for _, i := range vd.Test {
		r := &vd.Rows[i]
		p := elo.Proba(&r.Features)
		c := 1
		if r.Match.HomeTeamScore > r.Match.AwayTeamScore {
			c = 0
		} else if r.Match.HomeTeamScore < r.Match.AwayTeamScore {
			c = 2
		}
		y3 = append(y3, c)
		b := 0
		if c == 0 {
			b = 1
		}
		yb = append(yb, b)
		p3 = append(p3, p)
		pb = append(pb, []float64{1 - p[0], p[0]})
		homeBetter := r.Features.Home.Rank < r.Features.Away.Rank
		if (homeBetter && c == 0) || (!homeBetter && c == 2) {
			rankRight3++
		}
		if homeBetter == (b == 1) {
			rankRightB++
		}
	}
	e3 := must(evaluate.Classification([]string{"home_win", "draw", "away_win"}, y3, p3))
	eb := must(evaluate.Classification([]string{"not_home_win", "home_win"}, yb, pb))
	fmt.Printf("# validation %d: %d train, %d rows; %s\n", *year, len(vd.Train), len(vd.Test), elo.Describe())
	fmt.Printf("%-44s %7s %7s %7s %7s %6s %7s %7s %5s\n", "candidate", "acc3", "rps3", "ll3", "margin", "draws", "accB", "rpsB", "sec")
	fmt.Printf("%-44s %7.4f %7.4f %7.4f %7s %6s %7.4f %7.4f\n", "Elo ordered logit", e3.Accuracy, e3.RPS, e3.LogLoss, "-", "0", eb.Accuracy, eb.RPS)
	fmt.Printf("%-44s %7.4f %7s %7s %7s %6s %7.4f %7s\n", "better FIFA rank wins", float64(rankRight3)/float64(len(y3)), "", "", "-", "0", float64(rankRightB)/float64(len(yb)), "")
	for _, v := range strings.Split(*variants, ",") {
		for _, t := range strings.Split(*trees, ",") {
			for _, dp := range strings.Split(*depths, ",") {
				for _, m := range strings.Split(*mins, ",") {
					for _, s := range strings.Split(*subsets, ",") {
						for _, bn := range strings.Split(*bins, ",") {
							var fc forest.Config
							must(fmt.Sscan(t, &fc.NumTrees))
							must(fmt.Sscan(dp, &fc.MaxDepth))
							must(fmt.Sscan(m, &fc.MinInstancesPerNode))
							must(fmt.Sscan(bn, &fc.MaxBins))
							fc.FeatureSubset, fc.Seed = s, 1
							start := time.Now()
							rule, val, err := matchmodel.ValidateVariant(ctx, d, v, fc, *year, *maxMargin)
							must(0, err)
							mg := rule.DrawMarginOrZero()
							name := fmt.Sprintf("%s t%d d%d m%d %s b%d", v, fc.NumTrees, fc.MaxDepth, fc.MinInstancesPerNode, s, fc.MaxBins)
							bm := val.BinaryMetrics
							if bm == nil {
								bm = val.Metrics
							}
							fmt.Printf("%-44s %7.4f %7.4f %7.4f %7.2f %3d/%-3d %7.4f %7.4f %5.0f\n", name, val.Metrics["accuracy"], val.Metrics["rps"], val.Metrics["log_loss"], mg,
								val.DrawsPredicted, val.DrawsActual, bm["accuracy"], bm["rps"], time.Since(start).Seconds())
						}
					}
				}
			}
		}
	}
}
