package flightdelay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/datalabhq/datalab/flights/flightfeat"
)

// DateLayout is the layout of FlightDate (the seed's ISO date).
const DateLayout = "2006-01-02"

// Request is the classification request the web app publishes and the
// predictor consumes. Field names and order are the seed's Kafka message:
//
//	{"DepDelay":5.0,"Carrier":"AA","FlightDate":"2016-12-25","Dest":"SFO","FlightNum":null,
//	 "Origin":"ATL","Distance":2139.0,"DayOfYear":360,"DayOfMonth":25,"DayOfWeek":7,
//	 "Timestamp":"…","UUID":"…"}
type Request struct {
	DepDelay   float64 `json:"DepDelay"`
	Carrier    string  `json:"Carrier"`
	FlightDate string  `json:"FlightDate"`
	Dest       string  `json:"Dest"`
	// FlightNum is optional; null when the form left it empty.
	FlightNum *string `json:"FlightNum"`
	Origin    string  `json:"Origin"`
	// Distance is in miles, from the distance table.
	Distance   float64 `json:"Distance"`
	DayOfYear  int     `json:"DayOfYear"`
	DayOfMonth int     `json:"DayOfMonth"`
	// DayOfWeek is 1=Monday … 7=Sunday, as in the training data.
	DayOfWeek int `json:"DayOfWeek"`
	// Timestamp is when the request was made (RFC 3339, UTC).
	Timestamp string `json:"Timestamp"`
	// UUID identifies the request end to end: Kafka key, store key and the
	// id the web client polls for.
	UUID string `json:"UUID"`
}

// Route is the model's route feature, flightfeat.Route(Origin, Dest).
func (r Request) Route() string { return flightfeat.Route(r.Origin, r.Dest) }

// Prediction is the stored prediction document: the seed's fields
// {Origin, DayOfWeek, DayOfYear, DayOfMonth, Dest, DepDelay, Timestamp,
// FlightDate, Carrier, UUID, Distance, Route, Prediction} plus the class
// label text, the class probabilities and the model that produced it.
type Prediction struct {
	Origin     string  `json:"Origin"`
	DayOfWeek  int     `json:"DayOfWeek"`
	DayOfYear  int     `json:"DayOfYear"`
	DayOfMonth int     `json:"DayOfMonth"`
	Dest       string  `json:"Dest"`
	DepDelay   float64 `json:"DepDelay"`
	Timestamp  string  `json:"Timestamp"`
	FlightDate string  `json:"FlightDate"`
	Carrier    string  `json:"Carrier"`
	UUID       string  `json:"UUID"`
	Distance   float64 `json:"Distance"`
	Route      string  `json:"Route"`
	// Prediction is the delay bucket, 0…3 (see BucketLabels).
	Prediction int `json:"Prediction"`
	// PredictionLabel is BucketLabels[Prediction].
	PredictionLabel string `json:"PredictionLabel"`
	// Probability holds the class probabilities.
	Probability []float64 `json:"Probability"`
	// Model names the model that scored the request: the registry version
	// id (64 hex digits, `datalab models list flights`) when it was served
	// from the model registry (--model registry:flights@champion), else
	// the scorer's name, e.g. "spark-flight-delay-3.3.3 (Spark 3.3.3)"
	// (Served.ModelID).
	Model string `json:"Model"`
}

// BucketLabels are the page's texts for the four ArrDelayBucket classes
// (Bucketizer splits −inf, −15, 0, 30, +inf on the arrival delay).
var BucketLabels = [4]string{
	"Early (15+ Minutes Early)",
	"Slightly Early (0-15 Minute Early)",
	"Slightly Late (0-30 Minute Delay)",
	"Very Late (30+ Minutes Late)",
}

// BucketLabel returns the page's text for class k, or "" when k is not a
// bucket.
func BucketLabel(k int) string {
	if k < 0 || k >= len(BucketLabels) {
		return ""
	}
	return BucketLabels[k]
}

// ISOWeekday returns 1=Monday … 7=Sunday, the training data's DayOfWeek.
// (The seed's web app used Python's weekday(), Monday=0, a defect.)
func ISOWeekday(d time.Time) int {
	wd := int(d.Weekday())
	if wd == 0 {
		return 7
	}
	return wd
}

// FieldError is one problem with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists what is wrong with a request, field by field. The
// web app answers it with 400 and the list; the predictor dead-letters a
// message with it as the reason.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Error joins the problems: "Carrier: unknown carrier "ZZ" …; Dest: …".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return strings.Join(parts, "; ")
}

// IsValidation reports whether err is (or wraps) a ValidationError, i.e.
// the input is at fault rather than the system.
func IsValidation(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}

// Validate checks a complete request: every field present and in range,
// and the day fields consistent with FlightDate (1=Monday…7=Sunday; a
// message from a producer with the seed's Monday=0 bug is rejected).
func (r Request) Validate() error {
	ve := &ValidationError{}
	if _, err := uuid.Parse(r.UUID); err != nil || r.UUID == "" {
		ve.add("UUID", "%q is not a UUID", r.UUID)
	}
	checkCode(ve, "Carrier", r.Carrier, 2, 3)
	checkCode(ve, "Origin", r.Origin, 3, 4)
	checkCode(ve, "Dest", r.Dest, 3, 4)
	if math.IsNaN(r.DepDelay) || math.IsInf(r.DepDelay, 0) || r.DepDelay < MinDepDelay || r.DepDelay > MaxDepDelay {
		ve.add("DepDelay", "%v minutes is outside %v…%v", r.DepDelay, MinDepDelay, MaxDepDelay)
	}
	if math.IsNaN(r.Distance) || r.Distance <= 0 || r.Distance > 20000 {
		ve.add("Distance", "%v miles is not a flight distance", r.Distance)
	}
	if r.FlightNum != nil {
		checkFlightNum(ve, *r.FlightNum)
	}
	if d, err := parseDate(r.FlightDate); err != nil {
		ve.add("FlightDate", "%v", err)
	} else {
		if r.DayOfYear != d.YearDay() {
			ve.add("DayOfYear", "%d, but %s is day %d of the year", r.DayOfYear, r.FlightDate, d.YearDay())
		}
		if r.DayOfMonth != d.Day() {
			ve.add("DayOfMonth", "%d, but %s is day %d of the month", r.DayOfMonth, r.FlightDate, d.Day())
		}
		if want := ISOWeekday(d); r.DayOfWeek != want {
			ve.add("DayOfWeek", "%d, but %s is a %s = %d (1=Monday…7=Sunday)", r.DayOfWeek, r.FlightDate, d.Weekday(), want)
		}
	}
	if r.Timestamp == "" {
		ve.add("Timestamp", "missing")
	} else if _, err := time.Parse(time.RFC3339Nano, r.Timestamp); err != nil {
		ve.add("Timestamp", "%q is not an RFC 3339 time", r.Timestamp)
	}
	return ve.orNil()
}

// Limits on DepDelay in minutes: a day early to three days late is the
// widest a real departure delay gets; anything beyond is a typo.
const (
	MinDepDelay = -1440
	MaxDepDelay = 4320
)

// checkCode checks an uppercase letters-and-digits code of minLen…maxLen.
func checkCode(ve *ValidationError, field, v string, minLen, maxLen int) {
	if v == "" {
		ve.add(field, "missing")
		return
	}
	if len(v) < minLen || len(v) > maxLen {
		ve.add(field, "%q: want a %d–%d character code", v, minLen, maxLen)
		return
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			ve.add(field, "%q: want uppercase letters and digits", v)
			return
		}
	}
}

func checkFlightNum(ve *ValidationError, v string) {
	if v == "" || len(v) > 6 {
		ve.add("FlightNum", "%q: want 1–6 digits", v)
		return
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			ve.add("FlightNum", "%q: want 1–6 digits", v)
			return
		}
	}
}

// parseDate parses FlightDate and keeps it within 1987 (the first BTS
// year) … 2100.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	d, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	if d.Year() < 1987 || d.Year() > 2100 {
		return time.Time{}, fmt.Errorf("%s is outside 1987…2100", s)
	}
	return d, nil
}

// DecodeRequest parses a Kafka request message strictly: a JSON object with
// every field of Request (FlightNum may be null), no trailing data, and a
// valid request (see Request.Validate). Unknown extra fields are ignored,
// as a newer producer may add some. The error says what is wrong, to be
// used as the dead-letter reason.
func DecodeRequest(data []byte) (Request, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return Request{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return Request{}, errors.New("trailing data after the JSON object")
	}
	if raw == nil {
		return Request{}, errors.New("not a JSON object: null")
	}
	var missing []string
	for _, f := range requestFields {
		if _, ok := raw[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return Request{}, fmt.Errorf("missing fields %s", strings.Join(missing, ", "))
	}
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return Request{}, fmt.Errorf("field types: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// requestFields are the seed message's fields, all required.
var requestFields = []string{"DepDelay", "Carrier", "FlightDate", "Dest", "FlightNum", "Origin",
	"Distance", "DayOfYear", "DayOfMonth", "DayOfWeek", "Timestamp", "UUID"}
