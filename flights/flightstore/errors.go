package flightstore

import (
	"errors"
	"fmt"
)

// A store's write fails for one of two kinds of reasons, and the predictor
// must tell them apart: a data error (the database refuses these values —
// a string too long for its column, a constraint, an answer the store does
// not accept) fails again however often it is retried, so the record is set
// aside in the dead-letter topic; anything else (connection refused,
// timeout, deadlock, a missing table) may pass later, so it is retried and
// never set aside — losing a good request to a passing outage is worse than
// a stuck predictor, which /healthz reports.

// permanentError marks an error as a data error.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as a data error that retrying cannot fix. Stores wrap
// the database's own data errors with it (SQLSTATE classes 22 and 23, a
// MongoDB write error). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanentError{err}
}

// PermanentIf marks err permanent when isData, a store's reading of its
// driver's errors, reports it a data error; other errors are returned as
// they are, to be retried.
func PermanentIf(err error, isData func(error) bool) error {
	if err != nil && isData(err) {
		return Permanent(err)
	}
	return err
}

// IsPermanent reports whether err is a data error: marked by Permanent, or
// one of the store's own refusals (ErrEmptyID, ErrNotIssued, ErrAnswered,
// ErrInvalidID). Every other error may pass on a later attempt.
func IsPermanent(err error) bool {
	var pe permanentError
	return errors.As(err, &pe) || errors.Is(err, ErrEmptyID) || errors.Is(err, ErrNotIssued) ||
		errors.Is(err, ErrAnswered) || errors.Is(err, ErrInvalidID)
}

// ErrInvalidID refuses a request id that is not in the form the web app
// issues (see CheckID).
var ErrInvalidID = errors.New("not a request id the app issues (a lowercase UUID of 36 characters, e.g. 0b8c5b0e-9d4e-4a7a-8d7e-3f1c2b6a9e10)")

// CheckID checks id is in the one form the web app issues request ids in,
// the canonical text of a UUID: 36 characters, lowercase hexadecimal digits
// in groups of 8-4-4-4-12 separated by hyphens (uuid.NewString). uuid.Parse
// also takes urn:uuid:…, {…}, uppercase and unhyphenated forms; those never
// come from the app, and the stores key ids as 36 characters (VARCHAR(36)),
// so a record carrying one is refused before it reaches a store.
func CheckID(id string) error {
	if len(id) != 36 {
		return fmt.Errorf("%q: %w", id, ErrInvalidID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("%q: %w", id, ErrInvalidID)
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return fmt.Errorf("%q: %w", id, ErrInvalidID)
			}
		}
	}
	return nil
}
