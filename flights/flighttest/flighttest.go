// Package flighttest holds the flight use case's shared test fixtures: the
// course's Spark 3.3.3 flight-delay model (and its Spark 3.5.3 twin) and the
// distance table, from the data mirror (internal/testmirror: skipped
// without it, failed under CI).
// Only tests import it; its Scorer and table are loaded once per test
// binary and shared, so tests must not change them.
package flighttest

import (
	"sync"
	"testing"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/pipeline/ingest"
)

// ModelDir is the course's Spark 3.3.3 flight-delay model in the mirror.
func ModelDir(t testing.TB) string {
	t.Helper()
	return testmirror.Path(t, "spark-models", "flight-delay-spark-3.3.3")
}

// ModelDirSpark353 is the same course model trained with Spark 3.5.3: other
// files (another version in the model registry), the same carriers,
// airports and routes known.
func ModelDirSpark353(t testing.TB) string {
	t.Helper()
	return testmirror.Path(t, "spark-models", "flight-delay-spark-3.5.3")
}

// DistancesPath is the origin-destination distance table in the mirror.
func DistancesPath(t testing.TB) string {
	t.Helper()
	return testmirror.Path(t, "flights", "origin_dest_distances.jsonl")
}

var (
	once      sync.Once
	scorer    *flightdelay.Scorer
	distances *ingest.DistanceTable
	loadErr   error
)

// Fixtures returns the Scorer of ModelDir and the table of DistancesPath,
// loaded on the first call; a load error fails t (and every later caller).
func Fixtures(t testing.TB) (*flightdelay.Scorer, *ingest.DistanceTable) {
	t.Helper()
	model, dist := ModelDir(t), DistancesPath(t)
	once.Do(func() {
		if scorer, loadErr = flightdelay.LoadScorer(model); loadErr == nil {
			distances, loadErr = ingest.LoadDistances(dist)
		}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return scorer, distances
}
