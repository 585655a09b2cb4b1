package ingest

import (
	"bytes"
	"compress/bzip2"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// seedFlight is one line of the seed's JSON Lines flight file
// (simple_flight_delay_features.jsonl): the FlightRow columns, with dates and
// times as ISO-8601 strings. Unknown keys (Route, Timestamp, UUID, …) are
// ignored.
type seedFlight struct {
	ArrDelay   *float64
	CRSArrTime *string
	CRSDepTime *string
	Carrier    *string
	DayOfMonth *int32
	DayOfWeek  *int32
	DayOfYear  *int32
	DepDelay   *float64
	Dest       *string
	Distance   *float64
	FlightDate *string
	FlightNum  json.RawMessage // a string in the seed, a number or null elsewhere
	Origin     *string
}

// parseSeedDate reads FlightDate. The seed's Spark job wrote dates as
// instants of UTC midnight rendered in the writer's zone
// ("2014-12-31T16:00:00.000-08:00" is 2015-01-01), so a timestamp that is
// midnight in UTC gives its UTC date; any other timestamp gives the date as
// written; a plain YYYY-MM-DD is taken as is.
func parseSeedDate(s string) (Date, *rowError) {
	if len(s) == len(time.DateOnly) {
		return parseDate("FlightDate", []byte(s))
	}
	t, err := parseISOTime(s)
	if err != nil {
		return 0, rejectf(ReasonBadDate, "column FlightDate: %q is neither YYYY-MM-DD nor an ISO-8601 timestamp", s)
	}
	if u := t.UTC(); u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0 && u.Nanosecond() == 0 {
		return DateOf(u), nil
	}
	return DateOf(t), nil
}

// parseSeedClock reads CRSDepTime/CRSArrTime and keeps the wall clock as
// written, dropping the offset: the seed rendered local schedule times with
// the writer's zone, and FlightRow stores wall clocks (see FlightRow).
func parseSeedClock(col, s string) (time.Time, *rowError) {
	t, err := parseISOTime(s)
	if err != nil {
		return time.Time{}, rejectf(ReasonBadTime, "column %s: %q is not an ISO-8601 timestamp", col, s)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000*1000, time.UTC), nil
}

var isoLayouts = []string{
	time.RFC3339Nano,                     // 2015-01-01T07:20:00.000-08:00, …Z
	"2006-01-02T15:04:05.999999999",      // no offset
	"2006-01-02T15:04:05.999999999Z0700", // -0800 without colon
	"2006-01-02 15:04:05.999999999",      // space separator
}

func parseISOTime(s string) (time.Time, error) {
	var err error
	for _, layout := range isoLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// parseFlightNum accepts a JSON string, an integral number or null.
func parseFlightNum(raw json.RawMessage) (*string, *rowError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, rejectf(ReasonBadJSON, "FlightNum: %v", err)
		}
		if s == "" {
			return nil, nil
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, rejectf(ReasonNULByte, "FlightNum %q holds a NUL byte (\\u0000)", s)
		}
		return &s, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 32)
	if err != nil {
		return nil, rejectf(ReasonBadNumber, "FlightNum: %s is not an integer or a string", raw)
	}
	s := strconv.FormatInt(n, 10)
	return &s, nil
}

// parseSeedLine converts one JSON Lines record into a FlightRow, checking
// that the DayOf* columns it carries agree with FlightDate.
func parseSeedLine(line []byte) (FlightRow, *rowError) {
	var row FlightRow
	if !utf8.Valid(line) {
		return row, rejectf(ReasonInvalidUTF8, "line is not valid UTF-8")
	}
	if i := bytes.IndexByte(line, 0); i >= 0 {
		return row, rejectf(ReasonNULByte, "NUL byte at byte %d of the line", i)
	}
	var in seedFlight
	if err := json.Unmarshal(line, &in); err != nil {
		return row, rejectf(ReasonBadJSON, "%v", err)
	}
	var e *rowError
	if in.FlightDate == nil {
		return row, rejectf(ReasonMissingValue, "FlightDate is missing")
	}
	if row.FlightDate, e = parseSeedDate(*in.FlightDate); e != nil {
		return row, e
	}
	row.setCalendar()
	for _, c := range []struct {
		name string
		got  *int32
		want int32
	}{{"DayOfMonth", in.DayOfMonth, row.DayOfMonth}, {"DayOfWeek", in.DayOfWeek, row.DayOfWeek}, {"DayOfYear", in.DayOfYear, row.DayOfYear}} {
		if c.got != nil && *c.got != c.want {
			return row, rejectf(ReasonInconsistent, "%s is %d but FlightDate %s gives %d", c.name, *c.got, row.FlightDate, c.want)
		}
	}
	for _, s := range []*string{in.Carrier, in.Origin, in.Dest} {
		if s != nil && strings.IndexByte(*s, 0) >= 0 {
			return row, rejectf(ReasonNULByte, "text value %q holds a NUL byte (\\u0000)", *s)
		}
	}
	if in.Carrier != nil && *in.Carrier != "" {
		row.Carrier = in.Carrier
	}
	if row.FlightNum, e = parseFlightNum(in.FlightNum); e != nil {
		return row, e
	}
	if in.Origin == nil || *in.Origin == "" {
		return row, rejectf(ReasonMissingValue, "Origin is missing")
	}
	if in.Dest == nil || *in.Dest == "" {
		return row, rejectf(ReasonMissingValue, "Dest is missing")
	}
	row.Origin, row.Dest = *in.Origin, *in.Dest
	if !isAirport(row.Origin) || !isAirport(row.Dest) {
		return row, rejectf(ReasonBadValue, "%s-%s: airport codes are 3 letters or digits", row.Origin, row.Dest)
	}
	for _, c := range []struct {
		name string
		in   *string
		out  **time.Time
	}{{"CRSDepTime", in.CRSDepTime, &row.CRSDepTime}, {"CRSArrTime", in.CRSArrTime, &row.CRSArrTime}} {
		if c.in == nil || *c.in == "" {
			continue
		}
		t, e := parseSeedClock(c.name, *c.in)
		if e != nil {
			return row, e
		}
		*c.out = &t
	}
	row.DepDelay = in.DepDelay
	if in.Distance != nil && *in.Distance < 0 {
		return row, rejectf(ReasonBadNumber, "Distance: negative distance %v", *in.Distance)
	}
	row.Distance = in.Distance
	if in.ArrDelay == nil {
		return row, rejectf(ReasonMissingArrDelay, "ArrDelay is missing or null")
	}
	row.ArrDelay = *in.ArrDelay
	return row, nil
}

// openMaybeBzip2 opens path, decompressing it when it ends in .bz2; the
// progress bar counts the compressed bytes.
func (r *runner) openMaybeBzip2(path string) (io.ReadCloser, error) {
	rc, err := r.openPlain(path)
	if err != nil || !strings.HasSuffix(path, ".bz2") {
		return rc, err
	}
	return readCloser{Reader: bzip2.NewReader(rc), Closer: rc}, nil
}

func runFlightsJSONL(ctx context.Context, r *runner) error {
	sink, err := openSink[FlightRow](r, FlightsSchema)
	if err != nil {
		return err
	}
	return ingestLines(ctx, r, sink, r.openMaybeBzip2, lineFraming, func(string, *lineReader) (lineParser[FlightRow], error) {
		return r.withDistance(parseSeedLine), nil
	})
}
