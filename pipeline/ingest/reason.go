package ingest

import "fmt"

// Reason says why a source row went to the quarantine file instead of the
// Parquet output. Reasons are stable identifiers: reports, docs and scripts
// match on them.
type Reason string

// Malformed rows: the row does not parse or violates the schema. They count
// towards the bad-row ratio.
const (
	ReasonInvalidUTF8      Reason = "invalid_utf8"       // the line is not valid UTF-8
	ReasonLineTooLong      Reason = "line_too_long"      // the line (or quoted multi-line record) exceeds Config.MaxLineBytes
	ReasonNULByte          Reason = "nul_byte"           // a NUL byte in the line or a text value
	ReasonMalformedCSV     Reason = "malformed_csv"      // broken quoting
	ReasonWrongColumnCount Reason = "wrong_column_count" // more or fewer fields than the layout has
	ReasonBadJSON          Reason = "bad_json"           // the line is not a JSON object of the expected shape
	ReasonMissingValue     Reason = "missing_value"      // a required column is empty or null
	ReasonBadNumber        Reason = "bad_number"         // a numeric column does not parse or is out of range
	ReasonBadDate          Reason = "bad_date"           // a date column is not a valid YYYY-MM-DD date
	ReasonBadTime          Reason = "bad_time"           // an hhmm time or a timestamp does not parse
	ReasonBadBool          Reason = "bad_bool"           // a boolean column is not True/False/Yes/No/1/0
	ReasonBadValue         Reason = "bad_value"          // a value outside its allowed set (e.g. home_team_result)
	ReasonInconsistent     Reason = "inconsistent"       // columns disagree (e.g. DayOfWeek vs FlightDate)
	ReasonMissingArrDelay  Reason = "missing_arr_delay"  // a flight without ArrDelay that is neither cancelled nor diverted
)

// Rows excluded by a rule: well formed, but not rows of the output table.
// They are quarantined and reported, and do not count towards the ratio.
const (
	ReasonCancelled Reason = "cancelled" // cancelled flight: no departure, no arrival delay
	ReasonDiverted  Reason = "diverted"  // diverted flight: departed, never arrived at Dest
)

// Excluded reports whether r is an exclusion rule rather than a defect of the
// row; excluded rows do not count towards the bad-row ratio.
func (r Reason) Excluded() bool {
	return r == ReasonCancelled || r == ReasonDiverted
}

// rowError is why one row was rejected: a reason and a human-readable detail
// naming the column and the offending value.
type rowError struct {
	reason Reason
	detail string
}

func (e *rowError) Error() string { return string(e.reason) + ": " + e.detail }

func rejectf(reason Reason, format string, args ...any) *rowError {
	return &rowError{reason: reason, detail: fmt.Sprintf(format, args...)}
}
