package ingest

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// Field parsers shared by every text layout. Each takes the column name so
// that the quarantine detail says which column held which value.

// isNull reports whether a text field is a null: empty, or one of the null
// spellings of the sources (BTS 2008 writes NA and \N).
func isNull(b []byte) bool {
	switch len(b) {
	case 0:
		return true
	case 2:
		return (b[0] == 'N' && b[1] == 'A') || (b[0] == '\\' && b[1] == 'N')
	}
	return false
}

func requireText(col string, b []byte) (string, *rowError) {
	if isNull(b) {
		return "", rejectf(ReasonMissingValue, "column %s is empty", col)
	}
	return string(b), nil
}

func optionalText(b []byte) *string {
	if isNull(b) {
		return nil
	}
	s := string(b)
	return &s
}

func parseInt32(col string, b []byte) (int32, *rowError) {
	if isNull(b) {
		return 0, rejectf(ReasonMissingValue, "column %s is empty", col)
	}
	v, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return 0, rejectf(ReasonBadNumber, "column %s: %q is not an integer", col, b)
	}
	return int32(v), nil
}

func parseOptionalInt32(col string, b []byte) (*int32, *rowError) {
	if isNull(b) {
		return nil, nil
	}
	v, err := parseInt32(col, b)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// parseFloat accepts finite decimal numbers only: NaN and ±Inf are not values
// any source means, so they are rejected rather than written.
func parseFloat(col string, b []byte) (float64, *rowError) {
	if isNull(b) {
		return 0, rejectf(ReasonMissingValue, "column %s is empty", col)
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, rejectf(ReasonBadNumber, "column %s: %q is not a finite number", col, b)
	}
	return v, nil
}

func parseOptionalFloat(col string, b []byte) (*float64, *rowError) {
	if isNull(b) {
		return nil, nil
	}
	v, err := parseFloat(col, b)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// parseBool accepts the spellings the sources use: True/False (matches),
// TRUE/FALSE (martj42), Yes/No (shoot_out), 1/0 and 1.00/0.00 (BTS flags).
func parseBool(col string, b []byte) (bool, *rowError) {
	switch {
	case bytes.EqualFold(b, []byte("true")), bytes.EqualFold(b, []byte("yes")),
		bytes.Equal(b, []byte("1")), bytes.Equal(b, []byte("1.00")):
		return true, nil
	case bytes.EqualFold(b, []byte("false")), bytes.EqualFold(b, []byte("no")),
		bytes.Equal(b, []byte("0")), bytes.Equal(b, []byte("0.00")):
		return false, nil
	case isNull(b):
		return false, rejectf(ReasonMissingValue, "column %s is empty", col)
	}
	return false, rejectf(ReasonBadBool, "column %s: %q is not a boolean", col, b)
}

// parseDate parses YYYY-MM-DD into midnight UTC of that day; impossible dates
// (2008-02-30) are rejected.
func parseDate(col string, b []byte) (Date, *rowError) {
	if isNull(b) {
		return 0, rejectf(ReasonMissingValue, "column %s is empty", col)
	}
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return 0, rejectf(ReasonBadDate, "column %s: %q is not a YYYY-MM-DD date", col, b)
	}
	return DateOf(t), nil
}

// dateOf builds the date y-m-d, rejecting impossible ones instead of letting
// time.Date normalise them (June 31 must not become July 1).
func dateOf(col string, y, m, d int32) (Date, *rowError) {
	t := time.Date(int(y), time.Month(m), int(d), 0, 0, 0, 0, time.UTC)
	if y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || t.Day() != int(d) || t.Month() != time.Month(m) || t.Year() != int(y) {
		return 0, rejectf(ReasonBadDate, "%s: %d-%d-%d is not a date", col, y, m, d)
	}
	return DateOf(t), nil
}

// parseHHMM parses a BTS clock time (hhmm without leading zeros, 0…2400) into
// minutes after midnight; 2400 is 1440, the midnight that ends the day.
func parseHHMM(col string, b []byte) (int, *rowError) {
	if isNull(b) {
		return 0, rejectf(ReasonMissingValue, "column %s is empty", col)
	}
	v, err := strconv.Atoi(string(b))
	if err != nil || v < 0 || v > 2400 || v%100 > 59 {
		return 0, rejectf(ReasonBadTime, "column %s: %q is not an hhmm time", col, b)
	}
	return v/100*60 + v%100, nil
}
