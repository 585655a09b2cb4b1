// Package flightstore defines where flight-delay predictions are kept: the
// Store interface shared by the predictor (which writes predictions) and the
// web app (which records issued request ids and reads predictions back).
//
// It sits after pipeline/flightdelay (whose Prediction is the stored
// document) and before pipeline/stream and pipeline/serve/flightapp. The
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
package flightstore

import (
	"context"
	"errors"
	"time"

	"github.com/datalabhq/datalab/pipeline/flightdelay"
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
)

// String names the status as the response route does ("WAIT" is Pending).
func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Done:
		return "done"
	}
	return "unknown"
}

// Store keeps prediction documents keyed by UUID.
type Store interface {
	// Issue records that request id was issued at the given time. Issuing
	// an id twice, or after its prediction is stored, changes nothing.
	Issue(ctx context.Context, id string, at time.Time) error
	// Upsert stores predictions by UUID, replacing any stored for the same
	// UUID, so a redelivered request leaves exactly one document. All docs
	// are stored or, on error, the call may be retried as a whole.
	Upsert(ctx context.Context, docs ...flightdelay.Prediction) error
	// Get returns the stored prediction of id and Done, or Pending /
	// Unknown with a zero document.
	Get(ctx context.Context, id string) (flightdelay.Prediction, Status, error)
	// Count is the number of stored predictions (pending ids not counted).
	Count(ctx context.Context) (int64, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// ErrEmptyID is returned for an empty request id.
var ErrEmptyID = errors.New("empty request id")
