package ingest

import (
	"context"
	"fmt"
	"strings"
)

// FlightsSchema names the layout of every flight Parquet file (FlightRow).
const FlightsSchema = "datalab.flights/v1"

// btsLayout locates the columns of a BTS on-time CSV layout; -1 marks a
// column the layout does not have. Both the headerless 2008 layout and the
// header layouts (2017 sample, BTS downloads) map onto it, so one parser
// serves all of them.
type btsLayout struct {
	names                                 []string
	date                                  int // FL_DATE, or -1 when Year/Month/DayofMonth are separate
	year, month, day, dow                 int
	carrier, flightNum, origin, dest      int
	depTime, crsDep, arrTime, crsArr      int
	depDelay, arrDelay, distance          int
	cancelled, cancellationCode, diverted int
}

// bts2008Names are the 29 columns of the ASA Data Expo 2009 files (no
// header row in the files; see the data set's README).
var bts2008Names = []string{
	"Year", "Month", "DayofMonth", "DayOfWeek", "DepTime", "CRSDepTime", "ArrTime", "CRSArrTime",
	"UniqueCarrier", "FlightNum", "TailNum", "ActualElapsedTime", "CRSElapsedTime", "AirTime",
	"ArrDelay", "DepDelay", "Origin", "Dest", "Distance", "TaxiIn", "TaxiOut", "Cancelled",
	"CancellationCode", "Diverted", "CarrierDelay", "WeatherDelay", "NASDelay", "SecurityDelay",
	"LateAircraftDelay",
}

var bts2008Layout = btsLayout{
	names: bts2008Names, date: -1, year: 0, month: 1, day: 2, dow: 3,
	depTime: 4, crsDep: 5, arrTime: 6, crsArr: 7, carrier: 8, flightNum: 9,
	arrDelay: 14, depDelay: 15, origin: 16, dest: 17, distance: 18,
	cancelled: 21, cancellationCode: 22, diverted: 23,
}

// btsHeaderAliases lists, per field, the column names BTS has used for it
// over the years (2017 sample, TranStats downloads, the Data Expo names).
var btsHeaderAliases = map[string][]string{
	"date":             {"FL_DATE", "FlightDate"},
	"dow":              {"DAY_OF_WEEK", "DayOfWeek"},
	"carrier":          {"CARRIER", "UNIQUE_CARRIER", "OP_UNIQUE_CARRIER", "OP_CARRIER", "Reporting_Airline", "UniqueCarrier"},
	"flightNum":        {"FL_NUM", "OP_CARRIER_FL_NUM", "Flight_Number_Reporting_Airline", "FlightNum"},
	"origin":           {"ORIGIN", "Origin"},
	"dest":             {"DEST", "Dest"},
	"depTime":          {"DEP_TIME", "DepTime"},
	"crsDep":           {"CRS_DEP_TIME", "CRSDepTime"},
	"arrTime":          {"ARR_TIME", "ArrTime"},
	"crsArr":           {"CRS_ARR_TIME", "CRSArrTime"},
	"depDelay":         {"DEP_DELAY", "DepDelay"},
	"arrDelay":         {"ARR_DELAY", "ArrDelay"},
	"distance":         {"DISTANCE", "Distance"},
	"cancelled":        {"CANCELLED", "Cancelled"},
	"cancellationCode": {"CANCELLATION_CODE", "CancellationCode"},
	"diverted":         {"DIVERTED", "Diverted"},
}

// btsHeaderLayout maps a header row onto a layout. FL_DATE, the carrier,
// ORIGIN, DEST and ARR_DELAY are required; the rest is used when present.
func btsHeaderLayout(header []string) (btsLayout, error) {
	idx := make(map[string]int, len(header))
	for i, h := range header {
		if _, dup := idx[h]; !dup && h != "" {
			idx[h] = i
		}
	}
	find := func(field string) int {
		for _, name := range btsHeaderAliases[field] {
			if i, ok := idx[name]; ok {
				return i
			}
		}
		return -1
	}
	l := btsLayout{names: header, year: -1, month: -1, day: -1,
		date: find("date"), dow: find("dow"), carrier: find("carrier"), flightNum: find("flightNum"),
		origin: find("origin"), dest: find("dest"), depTime: find("depTime"), crsDep: find("crsDep"),
		arrTime: find("arrTime"), crsArr: find("crsArr"), depDelay: find("depDelay"),
		arrDelay: find("arrDelay"), distance: find("distance"), cancelled: find("cancelled"),
		cancellationCode: find("cancellationCode"), diverted: find("diverted")}
	var missing []string
	for field, i := range map[string]int{"date": l.date, "carrier": l.carrier, "origin": l.origin, "dest": l.dest, "arrDelay": l.arrDelay} {
		if i < 0 {
			missing = append(missing, strings.Join(btsHeaderAliases[field], "|"))
		}
	}
	if len(missing) > 0 {
		return l, fmt.Errorf("header %q lacks the BTS columns %s", strings.Join(header, ","), strings.Join(missing, ", "))
	}
	return l, nil
}

// field returns column i of f, or nil (a null) when the layout lacks it.
func field(f [][]byte, i int) []byte {
	if i < 0 {
		return nil
	}
	return f[i]
}

func (l *btsLayout) name(i int) string { return l.names[i] }

// isAirport reports whether s looks like an IATA/FAA airport code.
func isAirport(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// parse converts the fields of one BTS record into a FlightRow. Malformed
// values are reported first; only a well-formed row is then checked against
// the exclusion rules (cancelled, diverted) and the ArrDelay requirement.
func (l *btsLayout) parse(f [][]byte) (FlightRow, *rowError) {
	var row FlightRow
	var e *rowError
	if len(f) != len(l.names) {
		return row, rejectf(ReasonWrongColumnCount, "%d columns, want %d", len(f), len(l.names))
	}
	if l.date >= 0 {
		if row.FlightDate, e = parseDate(l.name(l.date), f[l.date]); e != nil {
			return row, e
		}
	} else {
		var y, m, d int32
		if y, e = parseInt32(l.name(l.year), f[l.year]); e != nil {
			return row, e
		}
		if m, e = parseInt32(l.name(l.month), f[l.month]); e != nil {
			return row, e
		}
		if d, e = parseInt32(l.name(l.day), f[l.day]); e != nil {
			return row, e
		}
		if row.FlightDate, e = dateOf("Year-Month-DayofMonth", y, m, d); e != nil {
			return row, e
		}
	}
	row.setCalendar()
	if l.dow >= 0 && !isNull(f[l.dow]) {
		dow, e := parseInt32(l.name(l.dow), f[l.dow])
		if e != nil {
			return row, e
		}
		if dow != row.DayOfWeek {
			return row, rejectf(ReasonInconsistent, "column %s is %d but %s is a %s (%d)",
				l.name(l.dow), dow, row.FlightDate, row.FlightDate.Time().Weekday(), row.DayOfWeek)
		}
	}
	row.Carrier = optionalText(field(f, l.carrier))
	if row.Carrier == nil {
		return row, rejectf(ReasonMissingValue, "column %s is empty", l.name(l.carrier))
	}
	if l.flightNum >= 0 && !isNull(f[l.flightNum]) {
		if _, e := parseInt32(l.name(l.flightNum), f[l.flightNum]); e != nil {
			return row, e
		}
		row.FlightNum = optionalText(f[l.flightNum])
	}
	if row.Origin, e = requireText(l.name(l.origin), f[l.origin]); e != nil {
		return row, e
	}
	if row.Dest, e = requireText(l.name(l.dest), f[l.dest]); e != nil {
		return row, e
	}
	if !isAirport(row.Origin) || !isAirport(row.Dest) {
		return row, rejectf(ReasonBadValue, "%s-%s: airport codes are 3 letters or digits", row.Origin, row.Dest)
	}
	if l.crsDep >= 0 && l.crsArr >= 0 && !isNull(f[l.crsDep]) && !isNull(f[l.crsArr]) {
		dep, e := parseHHMM(l.name(l.crsDep), f[l.crsDep])
		if e != nil {
			return row, e
		}
		arr, e := parseHHMM(l.name(l.crsArr), f[l.crsArr])
		if e != nil {
			return row, e
		}
		d, a := scheduleTimes(row.FlightDate, dep, arr)
		row.CRSDepTime, row.CRSArrTime = &d, &a
	}
	for _, i := range []int{l.depTime, l.arrTime} {
		if i >= 0 && !isNull(f[i]) {
			if _, e := parseHHMM(l.name(i), f[i]); e != nil {
				return row, e
			}
		}
	}
	if row.DepDelay, e = parseOptionalFloat(nameOr(l, l.depDelay), field(f, l.depDelay)); e != nil {
		return row, e
	}
	arrDelay, e := parseOptionalFloat(l.name(l.arrDelay), f[l.arrDelay])
	if e != nil {
		return row, e
	}
	if row.Distance, e = parseOptionalFloat(nameOr(l, l.distance), field(f, l.distance)); e != nil {
		return row, e
	}
	if row.Distance != nil && *row.Distance < 0 {
		return row, rejectf(ReasonBadNumber, "column %s: negative distance %v", l.name(l.distance), *row.Distance)
	}
	cancelled, diverted := false, false
	if b := field(f, l.cancelled); !isNull(b) {
		if cancelled, e = parseBool(l.name(l.cancelled), b); e != nil {
			return row, e
		}
	}
	if b := field(f, l.diverted); !isNull(b) {
		if diverted, e = parseBool(l.name(l.diverted), b); e != nil {
			return row, e
		}
	}
	code := field(f, l.cancellationCode)
	// The 2008 files leave Cancelled and Diverted null (\N) everywhere, but a
	// cancelled flight has a CancellationCode, and a diverted one departed
	// (DepTime) without arriving (no ArrTime).
	switch {
	case cancelled || !isNull(code):
		return row, rejectf(ReasonCancelled, "cancelled flight (CancellationCode %q): no arrival delay", code)
	case diverted:
		return row, rejectf(ReasonDiverted, "diverted flight: no arrival delay at %s", row.Dest)
	case arrDelay == nil && !isNull(field(f, l.depTime)) && isNull(field(f, l.arrTime)):
		return row, rejectf(ReasonDiverted, "departed but never arrived at %s (diverted): no arrival delay", row.Dest)
	case arrDelay == nil:
		return row, rejectf(ReasonMissingArrDelay, "column %s is empty for a flight that is neither cancelled nor diverted", l.name(l.arrDelay))
	}
	row.ArrDelay = *arrDelay
	return row, nil
}

func nameOr(l *btsLayout, i int) string {
	if i < 0 {
		return ""
	}
	return l.name(i)
}

// joinDistance fills a missing Distance from the distance table.
func (r *runner) joinDistance(row *FlightRow) {
	if row.Distance != nil {
		return
	}
	if d, ok := r.distances.Lookup(row.Origin, row.Dest); ok {
		row.Distance = &d
		r.rep.DistanceJoined++
		return
	}
	r.rep.DistanceUnknown++
}

// withDistance wraps a flight parser so that accepted rows get their
// Distance from the table when the source has none.
func (r *runner) withDistance(p lineParser[FlightRow]) lineParser[FlightRow] {
	return func(line []byte) (FlightRow, *rowError) {
		row, e := p(line)
		if e == nil {
			r.joinDistance(&row)
		}
		return row, e
	}
}

func runBTS2008(ctx context.Context, r *runner) error {
	sink, err := openSink[FlightRow](r, FlightsSchema)
	if err != nil {
		return err
	}
	l := bts2008Layout
	return ingestLines(ctx, r, sink, r.openPlain, csvFraming, func(string, *lineReader) (lineParser[FlightRow], error) {
		return r.withDistance(csvRows(len(l.names), l.parse)), nil
	})
}

func runBTSHeader(ctx context.Context, r *runner) error {
	sink, err := openSink[FlightRow](r, FlightsSchema)
	if err != nil {
		return err
	}
	return ingestLines(ctx, r, sink, r.openPlain, csvFraming, func(file string, lr *lineReader) (lineParser[FlightRow], error) {
		header, err := readHeader(lr)
		if err != nil {
			return nil, err
		}
		l, err := btsHeaderLayout(header)
		if err != nil {
			return nil, err
		}
		return r.withDistance(csvRows(len(l.names), l.parse)), nil
	})
}
