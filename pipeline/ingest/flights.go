package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// FlightRow is one flight in the flight-delay schema of the seed system (the
// course's simple_flight_delay_features data): every flight data set —
// BTS 2008, BTS 2017, the seed's JSON Lines and flights-3m — is ingested into
// it, so the features stage has one input type.
//
// Times: BTS gives scheduled times as local hhmm at the origin (departure) and
// destination (arrival) without a time zone. CRSDepTime and CRSArrTime keep
// that wall clock: FlightDate plus hhmm, encoded as if it were UTC, and
// written as TIMESTAMP(MICROS) with isAdjustedToUTC=false so that Spark
// (TimestampNTZ), DuckDB (TIMESTAMP) and Go (time.Time in UTC) all show the
// clock that was printed on the ticket rather than shifting it by a session
// time zone. 2400 means 00:00 of the next day; an arrival clock earlier than
// the departure clock is taken to be on the next day (overnight flights),
// as the seed's own conversion did.
//
// Rows always have an ArrDelay (the label of the model): flights without one
// (cancelled, diverted) are quarantined with their reason.
type FlightRow struct {
	FlightDate Date       `parquet:"FlightDate,date"`
	Carrier    *string    `parquet:"Carrier,dict"`
	FlightNum  *string    `parquet:"FlightNum,dict"`
	Origin     string     `parquet:"Origin,dict"`
	Dest       string     `parquet:"Dest,dict"`
	DayOfMonth int32      `parquet:"DayOfMonth"`
	DayOfWeek  int32      `parquet:"DayOfWeek"` // 1 = Monday … 7 = Sunday
	DayOfYear  int32      `parquet:"DayOfYear"`
	CRSDepTime *time.Time `parquet:"CRSDepTime,timestamp(microsecond:local)"`
	CRSArrTime *time.Time `parquet:"CRSArrTime,timestamp(microsecond:local)"`
	DepDelay   *float64   `parquet:"DepDelay"` // minutes; null where the source has none (flights-3m)
	ArrDelay   float64    `parquet:"ArrDelay"` // minutes, negative = early
	Distance   *float64   `parquet:"Distance"` // miles; null only when neither the source nor the distance table has it
}

// isoWeekday is the day of the week with Monday = 1 … Sunday = 7, the
// convention of BTS and of the seed's training data.
func isoWeekday(t time.Time) int32 {
	wd := int32(t.Weekday())
	if wd == 0 {
		return 7
	}
	return wd
}

// setCalendar fills the DayOf* columns from FlightDate.
func (r *FlightRow) setCalendar() {
	t := r.FlightDate.Time()
	r.DayOfMonth = int32(t.Day())
	r.DayOfWeek = isoWeekday(t)
	r.DayOfYear = int32(t.YearDay())
}

// scheduleTimes turns the scheduled hhmm clocks (minutes after midnight) of
// a flight on date into timestamps, moving an arrival clock earlier than the
// departure clock to the next day.
func scheduleTimes(day Date, depMin, arrMin int) (dep, arr time.Time) {
	date := day.Time()
	dep = date.Add(time.Duration(depMin) * time.Minute)
	arr = date.Add(time.Duration(arrMin) * time.Minute)
	if arr.Before(dep) {
		arr = arr.Add(24 * time.Hour)
	}
	return dep, arr
}

// DistanceTable holds airport-pair distances in miles (the seed's
// origin_dest_distances.jsonl), used to fill Distance where a source lacks it.
type DistanceTable struct {
	miles map[[2]string]float64
}

// LoadDistances reads a distance table: one JSON object per line with
// Origin, Dest and Distance.
func LoadDistances(path string) (*DistanceTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open distance table: %w", err)
	}
	defer f.Close()
	return ParseDistances(f, path)
}

// maxDistanceLine bounds one line of a distance table: real lines are ~50
// bytes; a longer one is a wrong file, not a record.
const maxDistanceLine = 64 << 10

// ParseDistances reads a distance table from r (name is for messages). Each
// non-blank line is {"Origin":…,"Dest":…,"Distance":miles} with non-empty
// airport codes and a distance ≥ 0. A pair listed twice keeps its last
// distance; the real table lists 28 pairs both ways with distances that
// differ by a mile or so, and Lookup prefers the direction asked for.
func ParseDistances(r io.Reader, name string) (*DistanceTable, error) {
	t := &DistanceTable{miles: make(map[[2]string]float64)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxDistanceLine)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec struct {
			Origin, Dest string
			Distance     *float64
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("distance table %s line %d: %w", name, line, err)
		}
		if rec.Origin == "" || rec.Dest == "" || rec.Distance == nil || *rec.Distance < 0 {
			return nil, fmt.Errorf("distance table %s line %d: want {Origin, Dest, Distance >= 0}, got %.200s", name, line, sc.Bytes())
		}
		t.miles[[2]string{rec.Origin, rec.Dest}] = *rec.Distance
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read distance table %s (line %d): %w", name, line+1, err)
	}
	return t, nil
}

// Len is the number of airport pairs in the table.
func (t *DistanceTable) Len() int { return len(t.miles) }

// Lookup returns the distance from origin to dest. Distances are symmetric,
// so a pair listed only the other way round is found too.
func (t *DistanceTable) Lookup(origin, dest string) (float64, bool) {
	if t == nil {
		return 0, false
	}
	if d, ok := t.miles[[2]string{origin, dest}]; ok {
		return d, true
	}
	d, ok := t.miles[[2]string{dest, origin}]
	return d, ok
}
