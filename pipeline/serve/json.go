package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// JSONError is a request body DecodeJSON refused: a status (400, or 413
// for a body over http.MaxBytesReader's limit) and a message that says what
// is wrong, safe to send back.
type JSONError struct {
	Status int
	Msg    string
	// UnknownField is the refused field's name when that was the problem,
	// so an app can list its fields.
	UnknownField string
	// Empty is set when the body held nothing, so an app can show an
	// example.
	Empty bool
	// Err is the decoder's error (a *http.MaxBytesError for a too-large
	// body).
	Err error
}

func (e *JSONError) Error() string { return e.Msg }

// Unwrap returns the decoder's error.
func (e *JSONError) Unwrap() error { return e.Err }

// DecodeJSON reads exactly one JSON value from body into v, strictly:
// object fields v does not have are refused (for struct targets; a map
// target takes any key and the app checks them), and anything after the
// value but white space — a second object, trailing garbage — is refused.
// Every failure is a *JSONError. Bound body with http.MaxBytesReader first.
func DecodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil || !isTooBig(err) {
			return &JSONError{Status: http.StatusBadRequest, Msg: "the body must hold a single JSON object and nothing after it", Err: err}
		}
		return jsonError(err)
	}
	return nil
}

func isTooBig(err error) bool {
	var tooBig *http.MaxBytesError
	return errors.As(err, &tooBig)
}

func jsonError(err error) *JSONError {
	var (
		tooBig *http.MaxBytesError
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	bad := func(format string, args ...any) *JSONError {
		return &JSONError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	switch {
	case errors.As(err, &tooBig):
		return &JSONError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body over %d bytes", tooBig.Limit), Err: err}
	case errors.Is(err, io.EOF):
		e := bad("empty body: send one JSON object")
		e.Empty = true
		return e
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("malformed JSON: the body ends early")
	case errors.As(err, &syn):
		return bad("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ) && typ.Field == "":
		return bad("the body is a JSON %s, not a JSON object", typ.Value)
	case errors.As(err, &typ):
		return bad("field %q must be a JSON %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one.
		e := bad("%s", strings.TrimPrefix(err.Error(), "json: "))
		e.UnknownField = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return e
	}
	return bad("malformed JSON: %v", err)
}
