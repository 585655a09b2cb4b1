// Package matchmonitortest holds the match monitor's test fixtures: the
// variant datalab.yaml serves, trained from the mirrored match data as the
// pipeline's ingest → features → train stages do (once per test binary),
// and synthetic traffic drawn from its training matches, as the match app
// would log it. Only tests import it.
package matchmonitortest

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/matches/matchfeat"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// Fixture is a trained match model and the features table it was trained
// from, laid out as a pipeline run leaves them under Dir: Features is
// <Dir>/build/matches/features.parquet, ModelDir
// <Dir>/build/models/matches/<variant>. Tests must not change the files.
type Fixture struct {
	Dir, Features, ModelDir string
	Model                   *matchmodel.Model
	// Training are the features table's training matches of the model.
	Training []matchfeat.Record
}

var (
	once    sync.Once
	fixture *Fixture
	fixErr  error
)

// Train returns the fixture, trained on the first call (in a directory
// removed by Cleanup, which the test binary's TestMain should call).
func Train(t testing.TB) *Fixture {
	t.Helper()
	matchesCSV := testmirror.Path(t, "matches", "international_matches.csv")
	groups := testmirror.Path(t, "matches", "worldcup2022", "2022_world_cup_groups.csv")
	once.Do(func() { fixture, fixErr = train(matchesCSV, groups) })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fixture
}

// Cleanup removes the fixture's directory, if it was made.
func Cleanup() {
	if fixture != nil {
		os.RemoveAll(fixture.Dir)
	}
}

func train(matchesCSV, groups string) (*Fixture, error) {
	ctx := context.Background()
	var cfg matchmodel.Config
	if err := testmirror.CommittedParams("matches", &cfg); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "matchmonitor-fixture-")
	if err != nil {
		return nil, err
	}
	f := &Fixture{Dir: dir, Features: filepath.Join(dir, matchmodel.DefaultFeatures), ModelDir: filepath.Join(dir, matchmodel.DefaultModelsDir, cfg.ServeVariant)}
	mp, lp := filepath.Join(dir, matchmodel.DefaultMatches), filepath.Join(dir, matchmodel.DefaultLookup)
	ds, _ := ingest.Lookup("matches")
	if _, err := ingest.Run(ctx, ds, ingest.Config{Inputs: []string{matchesCSV}, Output: mp}); err != nil {
		return nil, err
	}
	if _, _, err := matchmodel.FeaturesStage(mp, lp, f.Features); err != nil {
		return nil, err
	}
	data, err := matchmodel.LoadData(mp, lp, cfg.TestYear)
	if err != nil {
		return nil, err
	}
	if _, err := matchmodel.TrainStage(ctx, cfg, data, groups, filepath.Dir(f.ModelDir), []string{cfg.ServeVariant}); err != nil {
		return nil, err
	}
	if f.Model, err = matchmodel.Load(f.ModelDir); err != nil {
		return nil, err
	}
	recs, err := matchfeat.ReadFeatures(f.Features)
	if err != nil {
		return nil, err
	}
	man := f.Model.Manifest()
	for _, r := range recs {
		if r.Date >= man.TrainFrom && r.Date <= man.TrainTo {
			f.Training = append(f.Training, r)
		}
	}
	return f, nil
}

// Traffic returns n log entries of requests drawn (with replacement, from
// seed) from the training matches, each predicted by m as of its match's
// date as the app predicts it, served by version at times spread evenly
// over [from, from+span). shift, when not nil, changes each entry (its
// logged features, say) before it is returned.
func Traffic(t testing.TB, m *matchmodel.Model, training []matchfeat.Record, version string, n int, seed uint64, from time.Time, span time.Duration, shift func(*predlog.Entry)) []predlog.Entry {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]predlog.Entry, n)
	for i := range out {
		r := training[rng.IntN(len(training))]
		req := matchwinner.Request{Home: r.HomeTeam, Away: r.AwayTeam, Neutral: r.Neutral == 1, AsOf: r.Date.Time()}
		p, err := m.Predict(context.Background(), req)
		if err != nil {
			t.Fatalf("predict training match %s %s vs %s: %v", r.Date, r.HomeTeam, r.AwayTeam, err)
		}
		p.ModelVersion = version
		at := from.Add(time.Duration(i) * span / time.Duration(n))
		out[i] = predlog.NewEntry(req, p, time.Time{}, at)
		if shift != nil {
			shift(&out[i])
		}
	}
	return out
}
