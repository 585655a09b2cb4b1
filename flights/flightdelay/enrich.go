package flightdelay

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/google/uuid"
)

// Form is what a person or script sends: the seed form's fields as text.
type Form struct {
	DepDelay   string `json:"DepDelay"`
	Carrier    string `json:"Carrier"`
	FlightDate string `json:"FlightDate"`
	Origin     string `json:"Origin"`
	Dest       string `json:"Dest"`
	// FlightNum is optional; empty means null.
	FlightNum string `json:"FlightNum"`
}

// DefaultForm holds the seed form's defaults (its placeholders).
var DefaultForm = Form{DepDelay: "5", Carrier: "AA", FlightDate: "2016-12-25", Origin: "ATL", Dest: "SFO"}

// Enricher turns a Form into a complete Request the way the seed's web app
// did — Distance from the distance table, DayOfYear/DayOfMonth/DayOfWeek
// from FlightDate (DayOfWeek 1=Monday…7=Sunday), Timestamp and UUID — and
// rejects what the model cannot score.
type Enricher struct {
	// Distances is the airport-pair distance table.
	Distances *ingest.DistanceTable
	// Scorer, when set, checks the request against the model's known
	// carriers, airports and routes (Scorer.Check).
	Scorer *Scorer
	// Now and NewID default to time.Now and uuid.NewString; tests fix them.
	Now   func() time.Time
	NewID func() string
}

// Enrich validates f and builds the request. A *ValidationError lists every
// problem found; an unknown airport pair is one of them.
func (e *Enricher) Enrich(f Form) (Request, error) {
	ve := &ValidationError{}
	r := Request{
		Carrier:    strings.ToUpper(strings.TrimSpace(f.Carrier)),
		Origin:     strings.ToUpper(strings.TrimSpace(f.Origin)),
		Dest:       strings.ToUpper(strings.TrimSpace(f.Dest)),
		FlightDate: strings.TrimSpace(f.FlightDate),
	}
	if s := strings.TrimSpace(f.DepDelay); s == "" {
		ve.add("DepDelay", "missing: give the departure delay in minutes, e.g. 5 (negative when early)")
	} else if v, err := strconv.ParseFloat(s, 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		ve.add("DepDelay", "%q is not a number of minutes", s)
	} else if v < MinDepDelay || v > MaxDepDelay {
		ve.add("DepDelay", "%v minutes is outside %v…%v", v, MinDepDelay, MaxDepDelay)
	} else {
		r.DepDelay = v
	}
	checkCode(ve, "Carrier", r.Carrier, 2, 3)
	checkCode(ve, "Origin", r.Origin, 3, 4)
	checkCode(ve, "Dest", r.Dest, 3, 4)
	if n := strings.TrimSpace(f.FlightNum); n != "" {
		checkFlightNum(ve, n)
		r.FlightNum = &n
	}
	if d, err := parseDate(r.FlightDate); err != nil {
		ve.add("FlightDate", "%v", err)
	} else {
		r.DayOfYear, r.DayOfMonth, r.DayOfWeek = d.YearDay(), d.Day(), ISOWeekday(d)
	}
	if len(ve.Problems) > 0 {
		return Request{}, ve
	}
	if r.Origin == r.Dest {
		ve.add("Dest", "same as Origin %s", r.Origin)
		return Request{}, ve
	}
	dist, ok := e.Distances.Lookup(r.Origin, r.Dest)
	if !ok {
		ve.add("Dest", "no distance for %s→%s in the distance table: the pair is not a known route", r.Origin, r.Dest)
		return Request{}, ve
	}
	r.Distance = dist
	now, newID := time.Now, uuid.NewString
	if e.Now != nil {
		now = e.Now
	}
	if e.NewID != nil {
		newID = e.NewID
	}
	r.Timestamp = now().UTC().Format(time.RFC3339Nano)
	r.UUID = newID()
	if e.Scorer != nil {
		if err := e.Scorer.Check(r); err != nil {
			return Request{}, err
		}
	}
	if err := r.Validate(); err != nil {
		return Request{}, fmt.Errorf("enriched request is invalid (a bug): %w", err)
	}
	return r, nil
}
