// Package flightmonitortest holds the flight monitor's test fixtures: the
// variant datalab.yaml serves, trained on the mirrored BTS 2008 flights as
// the pipeline's ingest → train stages do (once per test binary), and
// synthetic traffic drawn from its training split, scored by the model as
// the predictor scores requests. Only tests import it.
package flightmonitortest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// Fixture is a trained flight model and its data, laid out as a pipeline
// run leaves them under Dir: the variant's ingested file at its Data path
// (build/parquet/bts2008.parquet) and the model at ModelDir
// (build/models/flights/<variant>). Config is params.flights with the
// variants' Data made absolute (under Dir). Tests must not change the
// files.
type Fixture struct {
	Dir, ModelDir string
	Config        flightmodel.Config
	Variant       flightmodel.VariantConfig
	Scorer        *flightdelay.Scorer
	Table         *flightfeat.Table
	Split         flightfeat.Split
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
	mirror := testmirror.Dir(t)
	once.Do(func() { fixture, fixErr = train(mirror) })
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

func train(mirror string) (*Fixture, error) {
	ctx := context.Background()
	var cfg flightmodel.Config
	if err := testmirror.CommittedParams("flights", &cfg); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "flightmonitor-fixture-")
	if err != nil {
		return nil, err
	}
	f := &Fixture{Dir: dir, Config: cfg}
	f.Config.Variants = nil
	for _, v := range cfg.Variants {
		v.Data = filepath.Join(dir, v.Data)
		f.Config.Variants = append(f.Config.Variants, v)
	}
	if f.Variant, err = f.Config.Variant(cfg.ServeVariant); err != nil {
		return nil, err
	}
	inputs, err := filepath.Glob(filepath.Join(mirror, "flights", "bts2008", "flights_2008_*.csv"))
	if err != nil || len(inputs) == 0 {
		return nil, fmt.Errorf("no BTS 2008 files in the mirror %s: %v", mirror, err)
	}
	ds, _ := ingest.Lookup("bts2008")
	if _, err := ingest.Run(ctx, ds, ingest.Config{Inputs: inputs, Output: f.Variant.Data,
		Distances: filepath.Join(mirror, "flights", "origin_dest_distances.jsonl"), MaxBadRatio: 0.01}); err != nil {
		return nil, err
	}
	if f.Table, f.Split, err = flightmodel.NewData(f.Config).Load(ctx, f.Variant.Data); err != nil {
		return nil, err
	}
	tr, err := flightmodel.Train(ctx, f.Table, f.Split, f.Variant)
	if err != nil {
		return nil, err
	}
	f.ModelDir = flightmodel.ModelDir(filepath.Join(dir, flightmodel.DefaultModelsDir), f.Variant.Name)
	if err := flightmodel.Save(f.ModelDir, tr); err != nil {
		return nil, err
	}
	if f.Scorer, err = flightdelay.LoadScorer(f.ModelDir); err != nil {
		return nil, err
	}
	return f, nil
}

// Traffic returns n prediction documents of requests drawn (with
// replacement, from seed) from the training split's rows that have every
// request field, scored by sc as the predictor scores them and stored as
// served by model. shift, when not nil, changes each document after it is
// scored (a request field, say), so that only that field differs from the
// training data.
func Traffic(t testing.TB, f *Fixture, sc *flightdelay.Scorer, model string, n int, seed uint64, shift func(*flightdelay.Prediction)) []flightdelay.Prediction {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]flightdelay.Prediction, 0, n)
	for len(out) < n {
		i := f.Split.Train[rng.IntN(len(f.Split.Train))]
		r, ok := request(f.Table, i)
		if !ok {
			continue
		}
		p, err := sc.Score(r)
		if err != nil {
			t.Fatalf("score training row %d: %v", i, err)
		}
		p.Model = model
		if shift != nil {
			shift(&p)
		}
		out = append(out, p)
	}
	return out
}

// request is row i of t as the web app's request; false when a field is
// missing.
func request(t *flightfeat.Table, i int) (flightdelay.Request, bool) {
	carrier, ok1 := t.String(flightfeat.ColCarrier, i)
	origin, ok2 := t.String(flightfeat.ColOrigin, i)
	dest, ok3 := t.String(flightfeat.ColDest, i)
	num := func(c string) float64 { return t.Num[c][i] }
	if !ok1 || !ok2 || !ok3 || math.IsNaN(num(flightfeat.ColDepDelay)) || math.IsNaN(num(flightfeat.ColDistance)) {
		return flightdelay.Request{}, false
	}
	return flightdelay.Request{
		DepDelay: num(flightfeat.ColDepDelay), Carrier: carrier, Origin: origin, Dest: dest, Distance: num(flightfeat.ColDistance),
		DayOfMonth: int(num(flightfeat.ColDayOfMonth)), DayOfWeek: int(num(flightfeat.ColDayOfWeek)), DayOfYear: int(num(flightfeat.ColDayOfYear)),
		FlightDate: "2008-01-01", Timestamp: "2026-12-07T10:00:00Z", UUID: uuid.NewString(),
	}, true
}
