package matchmodel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// fixture is the real data, ingested from the mirror once, and the models
// trained with the committed configuration.
type fixture struct {
	dir     string
	cfg     matchmodel.Config
	data    *matchmodel.Data
	results []ingest.ResultRow
	groups  string
	models  map[string]*matchmodel.Model
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func ingestTo(ctx context.Context, name, src, out string) error {
	ds, _ := ingest.Lookup(name)
	_, err := ingest.Run(ctx, ds, ingest.Config{Inputs: []string{src}, Output: out, MaxBadRatio: 0})
	return err
}

// committedConfig reads params.matches of the repository's datalab.yaml.
func committedConfig() (matchmodel.Config, error) {
	var doc struct {
		Params struct {
			Matches matchmodel.Config `yaml:"matches"`
		} `yaml:"params"`
	}
	b, err := os.ReadFile(filepath.Join(testmirror.RepoRoot(), "datalab.yaml"))
	if err != nil {
		return matchmodel.Config{}, err
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return matchmodel.Config{}, err
	}
	return doc.Params.Matches, doc.Params.Matches.Validate()
}

func realFixture(t testing.TB) *fixture {
	t.Helper()
	matchesCSV := testmirror.Path(t, "matches", "international_matches.csv")
	resultsCSV := testmirror.Path(t, "matches", "martj42", "results.csv")
	groups := testmirror.Path(t, "matches", "worldcup2022", "2022_world_cup_groups.csv")
	fixOnce.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "matchmodel-test-")
		if err != nil {
			fixErr = err
			return
		}
		f := &fixture{dir: dir, groups: groups, models: map[string]*matchmodel.Model{}}
		if f.cfg, fixErr = committedConfig(); fixErr != nil {
			return
		}
		mp, rp := filepath.Join(dir, "matches.parquet"), filepath.Join(dir, "martj42.parquet")
		if fixErr = ingestTo(ctx, "matches", matchesCSV, mp); fixErr != nil {
			return
		}
		if fixErr = ingestTo(ctx, "martj42", resultsCSV, rp); fixErr != nil {
			return
		}
		lp := filepath.Join(dir, "lookup.json")
		if _, _, fixErr = matchmodel.FeaturesStage(mp, lp, filepath.Join(dir, "features.parquet")); fixErr != nil {
			return
		}
		if f.data, fixErr = matchmodel.LoadData(mp, lp, f.cfg.TestYear); fixErr != nil {
			return
		}
		if f.results, fixErr = ingest.ReadResults(rp); fixErr != nil {
			return
		}
		if _, fixErr = matchmodel.TrainStage(ctx, f.cfg, f.data, groups, filepath.Join(dir, "models"), nil); fixErr != nil {
			return
		}
		for _, v := range f.cfg.Variants {
			if f.models[v], fixErr = matchmodel.Load(filepath.Join(dir, "models", v)); fixErr != nil {
				return
			}
		}
		fix = f
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

// TestWorldCupTeamMapping: the 64 matches of the martj42 results map to the
// 32 teams of the groups file, all known to the training data; an unmapped
// spelling fails loudly.
func TestWorldCupTeamMapping(t *testing.T) {
	f := realFixture(t)
	wc, err := matchmodel.WorldCupMatches(f.results, f.data.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	teams := map[string]bool{}
	for _, m := range wc {
		teams[m.Home], teams[m.Away] = true, true
	}
	var got []string
	for tm := range teams {
		got = append(got, tm)
	}
	sort.Strings(got)
	want, err := matchmodel.ReadWorldCupTeams(f.groups, f.data.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 32 || !equalStrings(got, want) {
		t.Fatalf("World Cup teams from the results %v\nfrom the groups file %v", got, want)
	}
	for _, name := range []string{"IR Iran", "Korea Republic", "USA"} {
		if !teams[name] {
			t.Errorf("%s missing: spelling not mapped", name)
		}
	}
	final := wc[len(wc)-1]
	if final.Home != "Argentina" || final.Away != "France" || final.HomeGoals != 3 || final.AwayGoals != 3 {
		t.Errorf("final = %+v (a shoot-out does not change the 3-3)", final)
	}

	broken := append([]ingest.ResultRow(nil), f.results...)
	for i := range broken {
		if broken[i].Tournament == "FIFA World Cup" && broken[i].Date == matchmodel.WorldCupStart {
			broken[i].HomeTeam = "Qatar Republic"
		}
	}
	if _, err := matchmodel.WorldCupMatches(broken, f.data.Lookup); !errors.Is(err, matchfeat.ErrUnknownTeam) {
		t.Fatalf("unmapped team: err = %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPredictorMatchesTraining: for historical matches, the loaded model
// computes from its saved lookup exactly the feature vector training used,
// and the Spark stages saved with the seed model index raw rows the same way.
func TestPredictorMatchesTraining(t *testing.T) {
	f := realFixture(t)
	for name, mdl := range f.models {
		man := mdl.Manifest()
		enc, err := matchfeat.NewEncoder(man.Variant, man.Labels)
		if err != nil {
			t.Fatal(err)
		}
		var spark *sparkml.Pipeline
		if name == "seed" {
			if spark, err = sparkml.LoadPipeline(filepath.Join(f.dir, "models", name, matchmodel.SparkDir)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < len(f.data.Rows); i += 97 {
			r := &f.data.Rows[i]
			want := make([]float64, enc.Width())
			enc.Encode(&r.Features, want)
			got, _, err := mdl.Features(r.Match.HomeTeam, r.Match.AwayTeam, r.Match.NeutralLocation, r.Match.Date)
			if err != nil {
				t.Fatal(err)
			}
			if !sameVector(got, want) {
				t.Fatalf("%s row %d (%s %s vs %s): predictor %v, training %v", name, i, r.Match.Date, r.Match.HomeTeam, r.Match.AwayTeam, got, want)
			}
			if spark != nil {
				raw := map[string]any{}
				for _, in := range man.Variant.Inputs {
					x, s, err := r.Features.Value(in.Name)
					if err != nil {
						t.Fatal(err)
					}
					if in.Indexed {
						raw[in.Name] = s
					} else {
						raw[in.Name] = x
					}
				}
				sx, err := spark.Transform(raw)
				if err != nil {
					t.Fatal(err)
				}
				if !sameVector(sx, want) {
					t.Fatalf("seed row %d: Spark stages give %v, encoder %v", i, sx, want)
				}
			}
		}
	}
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

// TestPredictorRequests covers the Predictor contract.
func TestPredictorRequests(t *testing.T) {
	f := realFixture(t)
	ctx := context.Background()
	for name, mdl := range f.models {
		if n := len(mdl.WorldCupTeams()); n != 32 {
			t.Fatalf("%s: %d World Cup teams", name, n)
		}
		if n := len(mdl.Teams()); n != 211 {
			t.Fatalf("%s: %d teams", name, n)
		}
		p, err := mdl.Predict(ctx, matchwinner.Request{Home: "Argentina", Away: "Saudi Arabia", Neutral: true})
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, v := range p.Probabilities {
			sum += v
		}
		if math.Abs(sum-1) > 1e-9 || p.Probability != p.Probabilities[p.Outcome] || p.ModelVersion != mdl.Version() || p.Variant != name {
			t.Fatalf("%s: prediction %+v", name, p)
		}
		if p.Outcome == matchwinner.HomeWin && p.Winner != "Argentina" {
			t.Fatalf("%s: winner %q", name, p.Winner)
		}
		// Aliases resolve to the training spelling.
		a, err := mdl.Predict(ctx, matchwinner.Request{Home: "United States", Away: "Iran", Neutral: true})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := mdl.Predict(ctx, matchwinner.Request{Home: "USA", Away: "IR Iran", Neutral: true})
		if a.Probability != b.Probability {
			t.Fatalf("%s: alias changes the prediction", name)
		}
		// As of an earlier date the features differ (ranks of that time).
		old, err := mdl.Predict(ctx, matchwinner.Request{Home: "USA", Away: "IR Iran", Neutral: true, AsOf: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(old.Features, b.Features) {
			t.Fatalf("%s: as-of date ignored", name)
		}
		for _, c := range []struct {
			req  matchwinner.Request
			want error
		}{
			{matchwinner.Request{Home: "Atlantis", Away: "Brazil"}, matchwinner.ErrUnknownTeam},
			{matchwinner.Request{Home: "Brazil", Away: ""}, matchwinner.ErrUnknownTeam},
			{matchwinner.Request{Home: "Brazil", Away: "Brazil"}, matchwinner.ErrSameTeam},
			{matchwinner.Request{Home: "USA", Away: "United States"}, matchwinner.ErrSameTeam},
			{matchwinner.Request{Home: "Brazil", Away: "Qatar", AsOf: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)}, matchwinner.ErrUnknownTeam},
		} {
			if _, err := mdl.Predict(ctx, c.req); !errors.Is(err, c.want) {
				t.Errorf("%s %+v: err = %v, want %v", name, c.req, err, c.want)
			}
		}
	}
}

// TestTrainingDeterministic: the same inputs and seed give byte-identical
// model directories.
func TestTrainingDeterministic(t *testing.T) {
	f := realFixture(t)
	dir := t.TempDir()
	ms, err := matchmodel.TrainStage(context.Background(), f.cfg, f.data, f.groups, dir, []string{"seed", "form3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		name := m.Variant.Name
		if m.Version != f.models[name].Version() {
			t.Errorf("%s: version %s, first training %s", name, m.Version, f.models[name].Version())
		}
		a := readTree(t, filepath.Join(dir, name))
		b := readTree(t, filepath.Join(f.dir, "models", name))
		if len(a) != len(b) {
			t.Fatalf("%s: %d files vs %d", name, len(a), len(b))
		}
		for p, data := range a {
			if !bytes.Equal(data, b[p]) {
				t.Errorf("%s: %s differs between two trainings", name, p)
			}
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTamperedModelRejected: a changed byte in the model directory fails Load.
func TestTamperedModelRejected(t *testing.T) {
	f := realFixture(t)
	dir := t.TempDir()
	if _, err := matchmodel.TrainStage(context.Background(), f.cfg, f.data, f.groups, dir, []string{"elo"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "elo", matchmodel.LookupFile)
	b, _ := os.ReadFile(p)
	b = bytes.Replace(b, []byte(`"rank":1,`), []byte(`"rank":2,`), 1)
	os.WriteFile(p, b, 0o644)
	if _, err := matchmodel.Load(filepath.Join(dir, "elo")); err == nil {
		t.Fatal("tampered lookup loaded")
	}
}

// TestAccuracyRegression pins the acceptance figures on the real data: the
// seed-equivalent model reaches 0.66 on the 571 matches of 2022, and the
// best designed variant beats the seed and "better FIFA rank wins" there.
func TestAccuracyRegression(t *testing.T) {
	f := realFixture(t)
	wc, err := matchmodel.WorldCupMatches(f.results, f.data.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	var models []*matchmodel.Model
	for _, v := range f.cfg.Variants {
		models = append(models, f.models[v])
	}
	ev, err := matchmodel.Evaluate(context.Background(), models, f.data, wc)
	if err != nil {
		t.Fatal(err)
	}
	if ev.TestRows != 571 || ev.WorldCupRows != 64 {
		t.Fatalf("test rows %d, World Cup rows %d", ev.TestRows, ev.WorldCupRows)
	}
	acc := map[string]float64{}
	for _, v := range ev.Variants {
		acc[v.Name] = v.Holdout.Accuracy
		t.Logf("%-6s 2022 %.4f  WC64 %.4f", v.Name, v.Holdout.Accuracy, v.WorldCup.Accuracy)
	}
	rank := ev.Baselines["binary"][0]
	t.Logf("rank   2022 %.4f  WC64 %.4f; with the seed label (home_team_result) %.4f", rank.Holdout.Accuracy, rank.WorldCup.Accuracy, ev.SeedLabel.Accuracy["better FIFA rank wins"])
	if acc["seed"] < 0.66 {
		t.Errorf("seed variant accuracy %.4f < 0.66 on 2022", acc["seed"])
	}
	// The reference figure of the rule, measured on the seed's label.
	if got := ev.SeedLabel.Accuracy["better FIFA rank wins"]; math.Abs(got-0.6550) > 0.0005 {
		t.Errorf("rank rule on home_team_result: %.4f, reference 0.6550", got)
	}
	if acc["form"] <= acc["seed"] || acc["form"] <= rank.Holdout.Accuracy {
		t.Errorf("form %.4f does not beat seed %.4f and rank rule %.4f", acc["form"], acc["seed"], rank.Holdout.Accuracy)
	}
}

// worldCupRequests are the 32×31 ordered pairs of the 2022 teams, on
// neutral ground and not, as the web app's benchmark sends them.
func worldCupRequests(mdl *matchmodel.Model) []matchwinner.Request {
	var out []matchwinner.Request
	for i, h := range mdl.WorldCupTeams() {
		for j, a := range mdl.WorldCupTeams() {
			if h != a {
				out = append(out, matchwinner.Request{Home: h, Away: a, Neutral: (i+j)%2 == 0})
			}
		}
	}
	return out
}

// BenchmarkPredict measures one request through the Predictor (features
// from the lookup, compiled forest), cycling over the World Cup pairs: a
// served forest is larger than the CPU caches, and one repeated request
// would find its path cached.
func BenchmarkPredict(b *testing.B) {
	f := realFixture(b)
	for _, name := range []string{"seed", f.cfg.ServeVariant} {
		mdl := f.models[name]
		reqs := worldCupRequests(mdl)
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := mdl.Predict(ctx, reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// TestPredictMatchesForestWalk: for every variant and World Cup pair,
// Predict's probabilities and outcome are bit for bit those of the
// reference walk over the forest's nodes (forest.Model.Predict on the same
// feature vector, the model's decision rule on top): the compiled scorer
// changes the speed, never an answer.
func TestPredictMatchesForestWalk(t *testing.T) {
	f := realFixture(t)
	ctx := context.Background()
	for _, name := range f.cfg.Variants {
		mdl := f.models[name]
		classes := mdl.Manifest().Classes
		for _, req := range worldCupRequests(mdl) {
			got, err := mdl.Predict(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			x, _, err := mdl.Features(req.Home, req.Away, req.Neutral, mdl.DefaultAsOf())
			if err != nil {
				t.Fatal(err)
			}
			argmax, proba := mdl.Forest().Predict(x)
			want := classes[mdl.Decide(proba, argmax)]
			if got.Outcome != want || math.Float64bits(got.Probability) != math.Float64bits(proba[slices.Index(classes, want)]) {
				t.Fatalf("%s %s vs %s: %s %v, reference walk %s %v", name, req.Home, req.Away, got.Outcome, got.Probability, want, proba)
			}
			for k, c := range classes {
				if math.Float64bits(got.Probabilities[c]) != math.Float64bits(proba[k]) {
					t.Fatalf("%s %s vs %s: P(%s) = %v, reference walk %v", name, req.Home, req.Away, c, got.Probabilities[c], proba[k])
				}
			}
		}
	}
}

// TestPredictConcurrent: one Model serves many goroutines (the web app's
// handlers) with the same answers as sequential calls (run with -race).
func TestPredictConcurrent(t *testing.T) {
	f := realFixture(t)
	mdl := f.models[f.cfg.ServeVariant]
	teams := mdl.WorldCupTeams()
	ctx := context.Background()
	want := map[[2]string]float64{}
	for i := range teams {
		h, a := teams[i], teams[(i+1)%len(teams)]
		p, err := mdl.Predict(ctx, matchwinner.Request{Home: h, Away: a, Neutral: true})
		if err != nil {
			t.Fatal(err)
		}
		want[[2]string{h, a}] = p.Probability
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 200; k++ {
				i := (g*31 + k) % len(teams)
				h, a := teams[i], teams[(i+1)%len(teams)]
				p, err := mdl.Predict(ctx, matchwinner.Request{Home: h, Away: a, Neutral: true})
				if err != nil || p.Probability != want[[2]string{h, a}] {
					errs <- fmt.Errorf("%s vs %s: %v, probability %v want %v", h, a, err, p.Probability, want[[2]string{h, a}])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestServedAgainstBaselines: on the real data, the served variant carries
// its validation (fitted before the validation year) and its draw margin,
// the Elo ordered logit is a sane model, and the served block's checks
// against "better FIFA rank wins" and the Elo logit hold as
// docs/experiments.md ("Finding a better served match model") reports them:
// every hold-out check passes (accuracy and RPS, binary and three-way); on
// the 64 World Cup matches every RPS check passes and no accuracy is more
// than one match below a baseline (the measured state: three-way 35 vs the
// rank rule's 36, the one missed check).
func TestServedAgainstBaselines(t *testing.T) {
	f := realFixture(t)
	wc, err := matchmodel.WorldCupMatches(f.results, f.data.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	var models []*matchmodel.Model
	for _, v := range f.cfg.Variants {
		models = append(models, f.models[v])
	}
	ev, err := matchmodel.Evaluate(context.Background(), models, f.data, wc)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Served, err = matchmodel.ServedEvaluation(ev, f.cfg.ServeVariant); err != nil {
		t.Fatal(err)
	}
	sv := ev.Served
	man := f.models[f.cfg.ServeVariant].Manifest()
	val := man.Validation
	if val == nil || val.Year != f.cfg.ValidationYear || ev.ValidationYear != f.cfg.ValidationYear {
		t.Fatalf("served manifest validation %+v, evaluation's year %d", val, ev.ValidationYear)
	}
	// The validation fit saw only the years before the validation year.
	before, in := 0, 0
	for _, i := range f.data.Train {
		switch y := f.data.Matches[i].Date.Time().Year(); {
		case y < val.Year:
			before++
		case y == val.Year:
			in++
		}
	}
	if val.TrainRows != before || val.Rows != in {
		t.Errorf("validation fitted on %d rows and scored %d, want %d and %d", val.TrainRows, val.Rows, before, in)
	}
	if sv.Classes == "three-way" {
		best := val.Margins[0]
		for _, m := range val.Margins {
			if m.Accuracy > best.Accuracy {
				best = m
			}
		}
		if got := man.Decision.DrawMarginOrZero(); got != best.Margin {
			t.Errorf("draw margin %v, validation's best %v (%+v)", got, best.Margin, val.Margins)
		}
		if (best.Margin > 0) != (sv.Draws.HoldoutPredicted > 0) {
			t.Errorf("margin %v but %d draws predicted on the hold-out", best.Margin, sv.Draws.HoldoutPredicted)
		}
		t.Logf("draw margin %v: draws predicted/actual %d/%d hold-out, %d/%d World Cup", best.Margin,
			sv.Draws.HoldoutPredicted, sv.Draws.HoldoutActual, sv.Draws.WorldCupPredicted, sv.Draws.WorldCupActual)
	}
	// The Elo logit: stronger teams win more often, home advantage is
	// positive, and it beats guessing the class frequencies (log loss ≈
	// 1.04 on 2022).
	if e := ev.EloLogit; e.Beta <= 0 || e.Home <= 0 || e.Cut1 >= e.Cut2 || e.Rows != len(f.data.Train) {
		t.Errorf("Elo logit %+v", e)
	}
	if elo := ev.Baselines["three-way"][1]; elo.Name != matchmodel.EloLogitName || elo.Holdout.LogLoss > 1.0 || elo.Validation == nil {
		t.Errorf("Elo baseline %+v", elo)
	}
	allPass, failed := true, 0
	for _, c := range sv.Checks {
		t.Logf("%-9s %-9s %-8s %-22s served %.4f baseline %.4f pass %v", c.Set, c.Classes, c.Metric, c.Baseline, c.Served, c.Value, c.Pass)
		allPass = allPass && c.Pass
		if !c.Pass {
			failed++
		}
		switch {
		case c.Set == "holdout" && !c.Pass:
			t.Errorf("served %s does not beat the baseline on the hold-out: %+v", sv.Variant, c)
		case c.Metric == "rps" && !c.Pass:
			t.Errorf("served %s has a worse World Cup RPS: %+v", sv.Variant, c)
		case c.Metric == "accuracy" && c.Served < c.Value-1.0/float64(ev.WorldCupRows)-1e-12:
			t.Errorf("served %s is more than one World Cup match behind: %+v", sv.Variant, c)
		}
	}
	if sv.BeatsBaselines != allPass || len(sv.Checks) != 16 || sv.ChecksFailed != failed {
		t.Errorf("beats_baselines %v, checks_failed %d with %d checks, %d failing", sv.BeatsBaselines, sv.ChecksFailed, len(sv.Checks), failed)
	}
}

// TestValidationIgnoresTestYear: changing every result of the test year
// leaves the validation (and the draw margin chosen there) unchanged.
func TestValidationIgnoresTestYear(t *testing.T) {
	f := realFixture(t)
	fc, err := f.cfg.Forest("form3")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rule, val, err := matchmodel.ValidateVariant(ctx, f.data, "form3", fc, f.cfg.ValidationYear, f.cfg.MaxDrawMargin)
	if err != nil {
		t.Fatal(err)
	}
	changed := *f.data
	changed.Matches = slices.Clone(f.data.Matches)
	changed.Rows = slices.Clone(f.data.Rows)
	for _, i := range f.data.Test {
		m := &changed.Matches[i]
		m.HomeTeamScore, m.AwayTeamScore = m.AwayTeamScore+3, m.HomeTeamScore
	}
	for i := range changed.Rows {
		changed.Rows[i].Match = &changed.Matches[i]
	}
	rule2, val2, err := matchmodel.ValidateVariant(ctx, &changed, "form3", fc, f.cfg.ValidationYear, f.cfg.MaxDrawMargin)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rule, rule2) || !reflect.DeepEqual(val, val2) {
		t.Errorf("test-year results changed the validation: %+v %+v vs %+v %+v", rule, val, rule2, val2)
	}
	if _, _, err := matchmodel.ValidateVariant(ctx, f.data, "form3", fc, f.cfg.TestYear, 0.3); err == nil {
		t.Error("validation on the test year accepted")
	}
}
