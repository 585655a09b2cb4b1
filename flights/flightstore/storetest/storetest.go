// Package storetest is the behaviour every flightstore.Store must show,
// written once and run against each implementation (SQLite, PostgreSQL,
// MariaDB, MongoDB) by their tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/internal/testwait"
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

// Run exercises s, opened with the default Policy: unknown → issued
// (pending) → done; a redelivered answer is a no-op (the first answer
// stays, one document); an answer for an id never issued, or for an
// answered id with another request, is refused with the permanent error and
// stores nothing, not even the batch's good answers; issue after done
// changes nothing; batches with duplicate UUIDs; concurrent overlapping
// writers; Count.
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
	// Redelivery: the same request again, twice in one batch and with
	// another prediction (a predictor restarted on another model), is
	// accepted and keeps the first answer.
	again := want
	again.Prediction, again.PredictionLabel, again.Model = 3, flightdelay.BucketLabel(3), "another model"
	if err := s.Upsert(ctx, again, again); err != nil {
		t.Fatalf("redelivery refused: %v", err)
	}
	if err := s.Issue(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, st, _ = s.Get(ctx, id)
	if st != flightstore.Done || !reflect.DeepEqual(got, want) {
		t.Fatalf("after redelivery: %+v %v, want the first answer %+v", got, st, want)
	}
	if n, _ := s.Count(ctx); n != base+1 {
		t.Fatalf("count %d, want %d", n, base+1)
	}
	// Refused: an answer for an id never issued (a script producing to
	// the request topic directly, or a forged record), and an answer for
	// the answered id with another request. Nothing of the batch is
	// stored, the error names the ids and says which rule refused them.
	forged := Doc(id, 9)
	stranger := Doc(uuid.NewString(), 5)
	good := uuid.NewString()
	if err := s.Issue(ctx, good, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		doc  flightdelay.Prediction
		want error
	}{
		{"never issued", stranger, flightstore.ErrNotIssued},
		{"answered for another request", forged, flightstore.ErrAnswered},
	} {
		err := s.Upsert(ctx, Doc(good, 1), c.doc)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.doc.UUID) {
			t.Fatalf("%s: Upsert = %v, want %v naming %s", c.name, err, c.want, c.doc.UUID)
		}
		if _, st, err := s.Get(ctx, good); err != nil || st != flightstore.Pending {
			t.Fatalf("%s: the good answer of a refused batch: %v %v, want pending", c.name, st, err)
		}
	}
	if _, st, _ := s.Get(ctx, stranger.UUID); st != flightstore.Unknown {
		t.Fatalf("refused answer for an unissued id: %v, want unknown", st)
	}
	if got, _, _ := s.Get(ctx, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("refused answer overwrote the first: %+v", got)
	}
	if err := s.Upsert(ctx, Doc(good, 1)); err != nil {
		t.Fatal(err)
	}
	concurrent(ctx, t, s, base+2, true)
	if err := s.Issue(ctx, "", time.Now()); err == nil {
		t.Fatal("empty id accepted")
	}
}

// RunAcceptUnissued exercises s opened with Policy.AcceptUnissued: answers
// for ids never issued are stored (requests published without the app),
// redeliveries still keep the first answer, other requests for an answered
// id are still refused, concurrent writers of unissued ids.
func RunAcceptUnissued(t *testing.T, s flightstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base, err := s.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	direct := Doc(uuid.NewString(), 5)
	if err := s.Upsert(ctx, direct); err != nil {
		t.Fatalf("unissued answer with AcceptUnissued: %v", err)
	}
	again := direct
	again.Model = "another model"
	if err := s.Upsert(ctx, again); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if got, st, err := s.Get(ctx, direct.UUID); err != nil || st != flightstore.Done || !reflect.DeepEqual(got, direct) {
		t.Fatalf("unissued answer: %+v %v %v, want %+v", got, st, err, direct)
	}
	if err := s.Upsert(ctx, Doc(direct.UUID, 6)); !errors.Is(err, flightstore.ErrAnswered) {
		t.Fatalf("other request for an answered id: %v, want ErrAnswered", err)
	}
	concurrent(ctx, t, s, base+1, false)
}

// concurrent stores 600 answers in overlapping batches from four writers at
// once (predictors during a rebalance), every other id issued first when
// issue is set (all of them otherwise: none with AcceptUnissued), and
// checks each document and the count (want before the batches).
func concurrent(ctx context.Context, t *testing.T, s flightstore.Store, want int64, issueAll bool) {
	t.Helper()
	ids := make([]string, 600)
	for i := range ids {
		ids[i] = uuid.NewString()
		if issueAll || i%2 == 0 {
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
	if n, _ := s.Count(ctx); n != want+int64(len(ids)) {
		t.Fatalf("count %d, want %d", n, want+int64(len(ids)))
	}
	for i, id := range ids {
		got, st, err := s.Get(ctx, id)
		if err != nil || st != flightstore.Done || !reflect.DeepEqual(got, Doc(id, i)) {
			t.Fatalf("batch doc %d: %+v %v %v", i, got, st, err)
		}
	}
}

// Clock is a settable clock for Policy.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// ExpiringStore is a Store that can count its pending rows, for
// RunExpiry: every implementation can, through its own API.
type ExpiringStore interface {
	flightstore.Store
	// PendingCount is the number of ids issued and not answered,
	// expired or not, that the store still holds.
	PendingCount(ctx context.Context) (int64, error)
}

// ExpiryIDs is how many unanswered requests RunExpiry issues.
const ExpiryIDs = 10_000

// RunExpiry is the bounded-growth test. open must return a store on an
// empty table/collection with policy p (a one-minute TTL, a fast
// background cleanup and a test clock). It issues ExpiryIDs ids that are
// never answered plus one that is, moves the clock past the TTL and then
// checks: the response route's view is Expired, a late answer is refused
// like an unissued one (ErrNotIssued), the store's background cleanup
// removes every expired pending row (in bounded batches) within a minute of
// real time, while the answered id and an id issued after the cutoff stay.
func RunExpiry(t *testing.T, open func(t *testing.T, p flightstore.Policy) ExpiringStore) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clock := NewClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	const ttl = time.Minute
	s := open(t, flightstore.Policy{PendingTTL: ttl, CleanupEvery: 50 * time.Millisecond, Now: clock.Now})
	ids := make([]string, ExpiryIDs)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += 8 {
				// Issue times spread over the half TTL before now.
				at := clock.Now().Add(-time.Duration(i) * ttl / 2 / ExpiryIDs)
				if err := s.Issue(ctx, ids[i], at); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("issued %d ids in %s", ExpiryIDs, time.Since(began).Round(time.Millisecond))
	answered := uuid.NewString()
	if err := s.Issue(ctx, answered, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Upsert(ctx, Doc(answered, 1)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PendingCount(ctx); err != nil || n != ExpiryIDs {
		t.Fatalf("pending before the TTL: %d, %v; want %d (the cleanup removed ids that had not expired)", n, err, ExpiryIDs)
	}
	if _, st, err := s.Get(ctx, ids[0]); err != nil || st != flightstore.Pending {
		t.Fatalf("within the TTL: %v %v, want pending", st, err)
	}
	clock.Advance(ttl + time.Second)
	late := Doc(ids[len(ids)-1], 3)
	fresh := uuid.NewString()
	if err := s.Issue(ctx, fresh, clock.Now()); err != nil {
		t.Fatal(err)
	}
	// The cleanup may already have removed it: then it is unknown, which
	// the refusal treats alike.
	if _, st, err := s.Get(ctx, late.UUID); err != nil || (st != flightstore.Expired && st != flightstore.Unknown) {
		t.Fatalf("after the TTL: %v %v, want expired (or unknown once removed)", st, err)
	}
	if err := s.Upsert(ctx, late); !errors.Is(err, flightstore.ErrNotIssued) {
		t.Fatalf("late answer for an expired id: %v, want ErrNotIssued", err)
	}
	var n int64
	began = time.Now()
	testwait.Poll(time.Minute, 50*time.Millisecond, func() bool {
		var err error
		if n, err = s.PendingCount(ctx); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	t.Logf("expired rows removed within %s of the TTL", time.Since(began).Round(time.Millisecond))
	if n != 1 {
		t.Fatalf("%d pending rows a minute after the TTL, want 1 (the fresh id): expired rows are not removed", n)
	}
	if _, st, err := s.Get(ctx, fresh); err != nil || st != flightstore.Pending {
		t.Fatalf("id issued after the cutoff: %v %v, want pending", st, err)
	}
	if got, st, err := s.Get(ctx, answered); err != nil || st != flightstore.Done || !reflect.DeepEqual(got, Doc(answered, 1)) {
		t.Fatalf("answered id after the cleanup: %v %v", st, err)
	}
	if _, st, _ := s.Get(ctx, ids[0]); st != flightstore.Unknown {
		t.Fatalf("removed id: %v, want unknown", st)
	}
}

// ScanDocs is how many documents RunScan stores in its long window: more
// than one batch of a Mongo cursor (mongostore.ScanBatch) and of the
// store's upsert chunks.
const ScanDocs = 2500

// RunScan is the time-window read drift monitoring makes. open must return
// a store on an empty table/collection with policy p (AcceptUnissued and a
// test clock, which stamps the stored time). It stores documents at known
// clock times, several in one batch and so at one instant, out of time
// order and by two models, then checks: Scan returns exactly the window's
// documents (since inclusive, until exclusive), of one model when asked,
// oldest first with the UUID breaking ties, each as stored with its stored
// time; Models counts them per model, most first; an error from fn stops
// the scan and comes back as is; a window of ScanDocs documents streams
// through in order.
func RunScan(t *testing.T, open func(t *testing.T, p flightstore.Policy) flightstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := NewClock(t0)
	s := open(t, flightstore.Policy{AcceptUnissued: true, Now: clock.Now})
	const modelA, modelB = "model-a", "model-b"
	type at struct {
		offset time.Duration
		model  string
		docs   int
	}
	var want []flightstore.Stored
	for i, a := range []at{{time.Hour, modelA, 1}, {0, modelA, 3}, {time.Minute, modelB, 1}, {2 * time.Hour, modelA, 1}, {-time.Second, modelB, 2}} {
		clock.Set(t0.Add(a.offset))
		var batch []flightdelay.Prediction
		for k := range a.docs {
			d := Doc(uuid.NewString(), 10*i+k)
			d.Model = a.model
			batch = append(batch, d)
			want = append(want, flightstore.Stored{Prediction: d, StoredAt: clock.Now()})
		}
		if err := s.Upsert(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(want, func(a, b flightstore.Stored) int {
		if c := a.StoredAt.Compare(b.StoredAt); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
	scan := func(w flightstore.Window) []flightstore.Stored {
		t.Helper()
		var out []flightstore.Stored
		if err := s.Scan(ctx, w, func(st *flightstore.Stored) error {
			c := *st
			c.Probability = slices.Clone(st.Probability)
			out = append(out, c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(what string, got, want []flightstore.Stored) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d documents, want %d", what, len(got), len(want))
		}
		for i := range got {
			if !got[i].StoredAt.Equal(want[i].StoredAt) || !reflect.DeepEqual(got[i].Prediction, want[i].Prediction) {
				t.Errorf("%s: document %d:\n got  %v %+v\n want %v %+v", what, i, got[i].StoredAt, got[i].Prediction, want[i].StoredAt, want[i].Prediction)
			}
		}
	}
	check("everything", scan(flightstore.Window{}), want)
	// [t0, t0+1h): the three of one batch and model B's at t0+1m; the one
	// at t0-1s and at t0+1h are out.
	check("window [t0, t0+1h)", scan(flightstore.Window{Since: t0, Until: t0.Add(time.Hour)}), want[2:6])
	var bOnly []flightstore.Stored
	for _, w := range want {
		if w.Model == modelB {
			bOnly = append(bOnly, w)
		}
	}
	check("model B", scan(flightstore.Window{Model: modelB}), bOnly)
	counts, err := s.Models(ctx, flightstore.Window{Since: t0, Until: t0.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if wantCounts := []flightstore.ModelCount{{Model: modelA, Count: 5}, {Model: modelB, Count: 1}}; !reflect.DeepEqual(counts, wantCounts) {
		t.Errorf("Models = %v, want %v", counts, wantCounts)
	}
	if counts, _ := s.Models(ctx, flightstore.Window{Until: t0}); !reflect.DeepEqual(counts, []flightstore.ModelCount{{Model: modelB, Count: 2}}) {
		t.Errorf("Models before t0 = %v", counts)
	}
	stop := errors.New("enough")
	n := 0
	if err := s.Scan(ctx, flightstore.Window{}, func(*flightstore.Stored) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("scan stopped by its callback: %v after %d documents", err, n)
	}

	// A long window, batches of 100 stored a second apart, streams
	// through in order.
	t1 := t0.Add(24 * time.Hour)
	for start := 0; start < ScanDocs; start += 100 {
		clock.Set(t1.Add(time.Duration(start/100) * time.Second))
		batch := make([]flightdelay.Prediction, 0, 100)
		for i := start; i < min(start+100, ScanDocs); i++ {
			batch = append(batch, Doc(uuid.NewString(), i))
		}
		if err := s.Upsert(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	var last time.Time
	n = 0
	if err := s.Scan(ctx, flightstore.Window{Since: t1}, func(st *flightstore.Stored) error {
		if st.StoredAt.Before(last) {
			t.Fatalf("document %d stored at %v after one at %v", n, st.StoredAt, last)
		}
		last = st.StoredAt
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != ScanDocs {
		t.Errorf("long window: %d documents, want %d", n, ScanDocs)
	}
}
