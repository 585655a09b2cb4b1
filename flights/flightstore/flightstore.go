// Package flightstore defines where flight-delay predictions are kept: the
// Store interface shared by the predictor (which writes predictions) and the
// web app (which records issued request ids and reads predictions back).
//
// It sits after flights/flightdelay (whose Prediction is the stored
// document) and before flights/stream and flights/flightapp. The
// implementations live in subpackages, one per dependency: sqlstore (SQLite,
// PostgreSQL, MariaDB/MySQL through database/sql) and mongostore (MongoDB,
// the seed's database agile_data_science and collection
// flight_delay_classification_response). storetest holds the behaviour
// every implementation must show, run against each of them.
//
// The store is the source of truth for request ids: the app calls Issue
// before it publishes a request, so the response route can tell an id that
// was never issued (404) from one that is issued but not yet answered
// (WAIT) — also after the app restarts, and when several app replicas share
// the store.
//
// Because it knows which ids were issued, the store also decides which
// answers it records (Policy.Admit, shared by every implementation): only
// answers for ids issued and not expired, unless Policy.AcceptUnissued; an
// id already answered keeps its first answer. Pending ids expire after
// Policy.PendingTTL and the store removes them, so unanswered requests do
// not pile up.
//
// Drift monitoring (flights/flightmonitor) reads a time window of stored
// predictions back, oldest first (Scan), and counts them per model
// (Models).
package flightstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/datalabhq/datalab/flights/flightdelay"
)

// Status is what the store knows about a request id.
type Status int

const (
	// Unknown: the id was never issued.
	Unknown Status = iota
	// Pending: the id was issued and no prediction is stored yet.
	Pending
	// Done: the prediction is stored.
	Done
	// Expired: the id was issued more than Policy.PendingTTL ago and no
	// prediction came; it will never be answered (the store refuses late
	// answers) and is removed soon.
	Expired
)

// String names the status as the response route does ("WAIT" is Pending).
func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Done:
		return "done"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// Store keeps prediction documents keyed by UUID.
type Store interface {
	// Issue records that request id was issued at the given time. Issuing
	// an id twice, or after its prediction is stored, changes nothing.
	Issue(ctx context.Context, id string, at time.Time) error
	// Upsert stores the answers Policy.Admit admits, keyed by UUID: an
	// answer for an id that is pending stores it; a redelivered answer
	// (same request as the stored one) changes nothing, so at-least-once
	// delivery leaves exactly one document, the first. It refuses the whole
	// call, storing nothing, when an answer is for an id never issued or
	// expired (ErrNotIssued, unless AcceptUnissued) or for an id answered
	// for another request (ErrAnswered); the error names each refused id
	// and both are permanent: retrying cannot help, the caller should set
	// those answers aside and store the rest. On any other error the call
	// may be retried as a whole.
	Upsert(ctx context.Context, docs ...flightdelay.Prediction) error
	// Get returns the stored prediction of id and Done, or Pending /
	// Expired / Unknown with a zero document.
	Get(ctx context.Context, id string) (flightdelay.Prediction, Status, error)
	// Count is the number of stored predictions (pending ids not counted).
	Count(ctx context.Context) (int64, error)
	// Scan calls fn for every prediction stored in w, oldest first (the
	// time the store recorded it, then UUID), streaming them from the
	// database: the store is never held in memory. The *Stored fn
	// receives is reused for the next document, so fn must copy what it
	// keeps; an error from fn stops the scan and is returned as is.
	Scan(ctx context.Context, w Window, fn func(*Stored) error) error
	// Models counts the predictions stored in w (its Model ignored) by
	// the model that scored them, most first, ties by name.
	Models(ctx context.Context, w Window) ([]ModelCount, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// Window selects stored predictions by the time the store recorded them,
// Since ≤ t < Until (a zero bound is open), and by the model that scored
// them (Prediction.Model) when Model is set. Drift monitoring
// (flights/flightmonitor) reads a window of served predictions this way.
type Window struct {
	Since, Until time.Time
	Model        string
}

// Stored is a stored prediction and when the store recorded it (the
// predictor's Upsert, by the Policy's clock).
type Stored struct {
	flightdelay.Prediction
	StoredAt time.Time
}

// ModelCount is a model and how many predictions of a window it scored.
type ModelCount struct {
	Model string
	Count int64
}

// SortModelCounts orders counts most first, ties by model name: every
// store answers Models in this order.
func SortModelCounts(counts []ModelCount) {
	slices.SortFunc(counts, func(a, b ModelCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Model, b.Model)
	})
}

// ErrEmptyID is returned for an empty request id.
var ErrEmptyID = errors.New("empty request id")

// ErrNotIssued refuses an answer for an id the app never issued, or issued
// more than Policy.PendingTTL ago. It is permanent: the request did not come
// from the app (or its answer is too late to be read); storing it would let
// any producer on the request topic write documents for ids nobody holds.
// Run the predictor with AcceptUnissued when requests are published without
// the app.
var ErrNotIssued = errors.New("answer for a request id that was not issued or has expired")

// ErrAnswered refuses an answer for an id whose stored answer is for a
// different request (any request field differs): the first answer stays.
// It is permanent. A redelivery of the same request is not refused.
var ErrAnswered = errors.New("answer for a request id already answered for a different request")

// DefaultPendingTTL is how long an issued id waits for its answer before it
// expires. The page polls every second; a prediction normally takes
// milliseconds, so ten minutes covers a predictor restart or a long
// rebalance with a wide margin.
const DefaultPendingTTL = 10 * time.Minute

// Policy says which answers a store records and when pending ids expire.
// The zero Policy is the default: answers only for issued ids, pending ids
// expire after DefaultPendingTTL.
type Policy struct {
	// PendingTTL is how long an issued id may wait for its answer; zero
	// means DefaultPendingTTL, negative never expires. Every process
	// sharing a store should use the same value.
	PendingTTL time.Duration
	// AcceptUnissued stores answers for ids that were never issued or have
	// expired: for requests published to Kafka without the web app.
	AcceptUnissued bool
	// CleanupEvery is how often the store deletes expired pending ids in
	// the background; zero means PendingTTL/4 within [1 s, 1 min],
	// negative never (RemoveExpired can still be called).
	CleanupEvery time.Duration
	// Now is the clock; nil is time.Now. Tests inject one.
	Now func() time.Time
}

// TTL is the effective PendingTTL (0 when ids never expire).
func (p Policy) TTL() time.Duration {
	switch {
	case p.PendingTTL == 0:
		return DefaultPendingTTL
	case p.PendingTTL < 0:
		return 0
	}
	return p.PendingTTL
}

// Interval is the effective CleanupEvery (0 when there is no background
// cleanup: negative CleanupEvery, or ids never expire).
func (p Policy) Interval() time.Duration {
	ttl := p.TTL()
	switch {
	case p.CleanupEvery < 0 || ttl == 0:
		return 0
	case p.CleanupEvery > 0:
		return p.CleanupEvery
	}
	return min(max(ttl/4, time.Second), time.Minute)
}

// Clock returns the current time by p.Now (time.Now when nil).
func (p Policy) Clock() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Cutoff is the issue time before which a pending id has expired; the zero
// time when ids never expire.
func (p Policy) Cutoff() time.Time {
	ttl := p.TTL()
	if ttl == 0 {
		return time.Time{}
	}
	return p.Clock().Add(-ttl)
}

// PendingStatus is Pending, or Expired when issuedAt is before Cutoff.
func (p Policy) PendingStatus(issuedAt time.Time) Status {
	if c := p.Cutoff(); !c.IsZero() && issuedAt.Before(c) {
		return Expired
	}
	return Pending
}

// StartCleanup calls remove (a store's RemoveExpired) every p.Interval()
// in the background, logging what it removed or why it failed, until the
// returned stop is called; stop waits for a running call to end. With no
// interval it starts nothing. Every process opening a store runs one: the
// deletes are idempotent, and the store stays bounded whichever runs.
func StartCleanup(p Policy, where string, remove func(context.Context) (int64, error)) (stop func()) {
	every := p.Interval()
	if every == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	log := slog.Default().With("component", "flightstore", "where", where)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n, err := remove(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("expired request cleanup failed; retrying at the next interval", "err", err, "every", every)
			case n > 0:
				log.Info("removed expired pending requests", "count", n, "ttl", p.TTL())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Held is what a store holds for an id when an answer for it arrives.
type Held struct {
	// Status is Unknown (no row), Pending (issued, no answer) or Done.
	Status Status
	// IssuedAt is when a Pending id was issued.
	IssuedAt time.Time
	// Doc is the stored answer of a Done id.
	Doc flightdelay.Prediction
}

// Admit is the rule every Store applies to one answer: write reports
// whether to store it; a non-nil error refuses it (wrapping ErrNotIssued or
// ErrAnswered). A redelivery of the answered request is neither written
// nor refused: the first answer stays, whatever the later prediction (a
// predictor restarted with another model must not change an answer a user
// may already have read).
func (p Policy) Admit(answer flightdelay.Prediction, held Held) (write bool, err error) {
	switch held.Status {
	case Done:
		if SameRequest(answer, held.Doc) {
			return false, nil
		}
		return false, fmt.Errorf("request %s: %w", answer.UUID, ErrAnswered)
	case Pending:
		if p.AcceptUnissued || p.PendingStatus(held.IssuedAt) == Pending {
			return true, nil
		}
		return false, fmt.Errorf("request %s issued %s, more than %s ago: %w", answer.UUID,
			held.IssuedAt.UTC().Format(time.RFC3339), p.TTL(), ErrNotIssued)
	}
	if p.AcceptUnissued {
		return true, nil
	}
	return false, fmt.Errorf("request %s: %w (run the predictor with --accept-unissued if requests are published without the web app)", answer.UUID, ErrNotIssued)
}

// SameRequest reports whether a and b answer the same request: every field
// the app put in the request is equal (the prediction, its label,
// probabilities and model may differ).
func SameRequest(a, b flightdelay.Prediction) bool {
	return a.UUID == b.UUID && a.Origin == b.Origin && a.Dest == b.Dest && a.Carrier == b.Carrier &&
		a.FlightDate == b.FlightDate && a.Timestamp == b.Timestamp && a.Route == b.Route &&
		a.DepDelay == b.DepDelay && a.Distance == b.Distance && a.DayOfWeek == b.DayOfWeek &&
		a.DayOfYear == b.DayOfYear && a.DayOfMonth == b.DayOfMonth
}
