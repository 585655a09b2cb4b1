package mongostore

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// dataError reports whether err is the server refusing the documents: a
// write error (a document failed validation, a key or document too large,
// a bad value) without a write-concern error, or a command error with a
// code of that kind, or the driver refusing to encode a document. Network
// errors, timeouts, cancellation and errors the server labels retryable
// or transient are not data errors, whatever their code.
func dataError(err error) bool {
	if err == nil || mongo.IsNetworkError(err) || mongo.IsTimeout(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError")) {
		return false
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		return we.WriteConcernError == nil && len(we.WriteErrors) > 0
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		return bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return dataErrorCodes[ce.Code]
	}
	var me mongo.MarshalError
	return errors.As(err, &me) || errors.Is(err, mongo.ErrNilDocument)
}

// dataErrorCodes are the server error codes (MongoDB's error_codes.yml)
// that a command answers when a document's content is at fault.
var dataErrorCodes = map[int32]bool{
	2:     true, // BadValue
	14:    true, // TypeMismatch
	52:    true, // DollarPrefixedFieldName
	55:    true, // InvalidDBRef
	57:    true, // DottedFieldName
	121:   true, // DocumentValidationFailure
	10334: true, // BSONObjectTooLarge
	11000: true, // DuplicateKey
	17280: true, // KeyTooLong
}
