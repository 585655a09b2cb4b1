// Package storetest is the behaviour every flightstore.Store must show,
// written once and run against each implementation (SQLite, PostgreSQL,
// MariaDB, MongoDB) by their tests.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/flightdelay"
	"github.com/datalabhq/datalab/pipeline/flightstore"
	"github.com/google/uuid"
)

// Doc returns a complete prediction document for id with every seed field
// set (values vary with i).
func Doc(id string, i int) flightdelay.Prediction {
	return flightdelay.Prediction{
		Origin: "ATL", DayOfWeek: 1 + i%7, DayOfYear: 1 + i%365, DayOfMonth: 1 + i%28, Dest: "SFO",
		DepDelay: float64(i%90) - 15.5, Timestamp: "2026-11-23T10:00:00.123456789Z", FlightDate: "2016-12-25",
		Carrier: "AA", UUID: id, Distance: 2139, Route: "ATL-SFO", Prediction: i % 4,
		PredictionLabel: flightdelay.BucketLabel(i % 4), Probability: []float64{0.1, 0.2, 0.3, 0.4},
		Model: "spark-flight-delay-3.3.3 (Spark 3.3.3)",
	}
}

// Run exercises s: unknown → issued (pending) → done; upsert replaces
// (redelivery is idempotent); issue after done changes nothing; batches
// with duplicate UUIDs; concurrent writers; Count.
func Run(t *testing.T, s flightstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	base, err := s.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if _, st, err := s.Get(ctx, id); err != nil || st != flightstore.Unknown {
		t.Fatalf("never issued: %v, %v", st, err)
	}
	if err := s.Issue(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Issue(ctx, id, time.Now()); err != nil {
		t.Fatalf("issuing twice: %v", err)
	}
	if _, st, err := s.Get(ctx, id); err != nil || st != flightstore.Pending {
		t.Fatalf("issued: %v, %v", st, err)
	}
	want := Doc(id, 2)
	if err := s.Upsert(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, st, err := s.Get(ctx, id)
	if err != nil || st != flightstore.Done || !reflect.DeepEqual(got, want) {
		t.Fatalf("stored:\n got %+v %v %v\nwant %+v", got, st, err, want)
	}
	// Redelivery: the same UUID again, even with another prediction, keeps one document.
	again := Doc(id, 3)
	if err := s.Upsert(ctx, again, again); err != nil {
		t.Fatal(err)
	}
	if err := s.Issue(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, st, _ = s.Get(ctx, id)
	if st != flightstore.Done || !reflect.DeepEqual(got, again) {
		t.Fatalf("after redelivery: %+v %v", got, st)
	}
	if n, _ := s.Count(ctx); n != base+1 {
		t.Fatalf("count %d, want %d", n, base+1)
	}
	// Predicted without being issued (another app replica's store view, or
	// a script producing directly): stored all the same.
	direct := Doc(uuid.NewString(), 5)
	if err := s.Upsert(ctx, direct); err != nil {
		t.Fatal(err)
	}
	// Batches from concurrent predictors, overlapping.
	ids := make([]string, 600)
	for i := range ids {
		ids[i] = uuid.NewString()
		if i%2 == 0 {
			if err := s.Issue(ctx, ids[i], time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, hi := w*150, min(w*150+250, len(ids)) // overlaps the next worker's range
			batch := make([]flightdelay.Prediction, 0, hi-lo)
			for i := lo; i < hi; i++ {
				batch = append(batch, Doc(ids[i], i))
			}
			if err := s.Upsert(ctx, batch...); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx); n != base+2+int64(len(ids)) {
		t.Fatalf("count %d, want %d", n, base+2+int64(len(ids)))
	}
	for i, id := range ids {
		got, st, err := s.Get(ctx, id)
		if err != nil || st != flightstore.Done || !reflect.DeepEqual(got, Doc(id, i)) {
			t.Fatalf("batch doc %d: %+v %v %v", i, got, st, err)
		}
	}
	if err := s.Issue(ctx, "", time.Now()); err == nil {
		t.Fatal("empty id accepted")
	}
}
