package flightfeat

import (
	"context"
	"fmt"
	"math"

	"github.com/datalabhq/datalab/pipeline/ingest"
)

// Raw column names: the fields of the seed's flight schema the pipeline
// reads, as a Spark row (and the flight web app's request) names them.
const (
	ColDepDelay   = "DepDelay"
	ColDistance   = "Distance"
	ColDayOfMonth = "DayOfMonth"
	ColDayOfWeek  = "DayOfWeek"
	ColDayOfYear  = "DayOfYear"
	ColCarrier    = "Carrier"
	ColOrigin     = "Origin"
	ColDest       = "Dest"
	ColRoute      = "Route"
	ColArrDelay   = "ArrDelay"
)

// NumericColumns are the raw numeric inputs, in the seed's assembler order.
var NumericColumns = []string{ColDepDelay, ColDistance, ColDayOfMonth, ColDayOfWeek, ColDayOfYear}

// StringColumns are the raw string inputs indexed by StringIndexers, in the
// seed's assembler order.
var StringColumns = []string{ColCarrier, ColOrigin, ColDest, ColRoute}

// Table holds flights column by column: numeric columns as float64 with NaN
// for a null, string columns as codes into a shared dictionary (so 3M rows
// of airport codes cost 4 bytes a cell, not a string header). Route is
// derived as Origin + "-" + Dest, the seed's definition.
type Table struct {
	// Num holds DepDelay, Distance, DayOfMonth, DayOfWeek, DayOfYear and
	// ArrDelay by column name.
	Num map[string][]float64
	// Str holds Carrier, Origin, Dest and Route as dictionary codes; -1 is
	// a null.
	Str map[string][]int32
	// Dict is the string dictionary of all string columns.
	Dict []string

	codes map[string]int32
}

// NewTable returns an empty table.
func NewTable() *Table {
	t := &Table{Num: map[string][]float64{}, Str: map[string][]int32{}, codes: map[string]int32{}}
	for _, c := range append(NumericColumns, ColArrDelay) {
		t.Num[c] = nil
	}
	for _, c := range StringColumns {
		t.Str[c] = nil
	}
	return t
}

// Len is the number of rows.
func (t *Table) Len() int { return len(t.Num[ColArrDelay]) }

func (t *Table) code(s string) int32 {
	if c, ok := t.codes[s]; ok {
		return c
	}
	c := int32(len(t.Dict))
	t.Dict = append(t.Dict, s)
	t.codes[s] = c
	return c
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// Append adds ingested rows to the table.
func (t *Table) Append(rows []ingest.FlightRow) {
	for i := range rows {
		r := &rows[i]
		t.Num[ColDepDelay] = append(t.Num[ColDepDelay], orNaN(r.DepDelay))
		t.Num[ColDistance] = append(t.Num[ColDistance], orNaN(r.Distance))
		t.Num[ColDayOfMonth] = append(t.Num[ColDayOfMonth], float64(r.DayOfMonth))
		t.Num[ColDayOfWeek] = append(t.Num[ColDayOfWeek], float64(r.DayOfWeek))
		t.Num[ColDayOfYear] = append(t.Num[ColDayOfYear], float64(r.DayOfYear))
		t.Num[ColArrDelay] = append(t.Num[ColArrDelay], r.ArrDelay)
		carrier := int32(-1)
		if r.Carrier != nil {
			carrier = t.code(*r.Carrier)
		}
		t.Str[ColCarrier] = append(t.Str[ColCarrier], carrier)
		t.Str[ColOrigin] = append(t.Str[ColOrigin], t.code(r.Origin))
		t.Str[ColDest] = append(t.Str[ColDest], t.code(r.Dest))
		t.Str[ColRoute] = append(t.Str[ColRoute], t.code(Route(r.Origin, r.Dest)))
	}
}

// Route is the seed's route key, Origin + "-" + Dest.
func Route(origin, dest string) string { return origin + "-" + dest }

// FromRows builds a table from ingested rows.
func FromRows(rows []ingest.FlightRow) *Table {
	t := NewTable()
	t.Append(rows)
	return t
}

// ReadTable streams a flight Parquet file written by `datalab ingest`
// (ingest.ScanFlights) into a table.
func ReadTable(ctx context.Context, path string) (*Table, error) {
	t := NewTable()
	if err := ingest.ScanFlights(ctx, path, func(rows []ingest.FlightRow) error {
		t.Append(rows)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read flights %s: %w (run `datalab run` to ingest it)", path, err)
	}
	return t, nil
}

// String returns the value of string column col in row i and whether it
// is present (false for a null).
func (t *Table) String(col string, i int) (string, bool) {
	c := t.Str[col][i]
	if c < 0 {
		return "", false
	}
	return t.Dict[c], true
}

// HasColumn reports whether column col has at least one non-null value.
func (t *Table) HasColumn(col string) bool {
	if v, ok := t.Num[col]; ok {
		for _, x := range v {
			if !math.IsNaN(x) {
				return true
			}
		}
		return false
	}
	for _, c := range t.Str[col] {
		if c >= 0 {
			return true
		}
	}
	return false
}

// RawRow renders row i as the raw row a Spark pipeline (and the flight web
// app's scorer) sees: numbers as float64, strings as strings, nulls as nil.
// Route is included; a pipeline that derives it gets the same value.
func (t *Table) RawRow(i int) map[string]any {
	row := make(map[string]any, len(NumericColumns)+len(StringColumns))
	for _, c := range NumericColumns {
		if x := t.Num[c][i]; !math.IsNaN(x) {
			row[c] = x
		} else {
			row[c] = nil
		}
	}
	for _, c := range StringColumns {
		if s, ok := t.String(c, i); ok {
			row[c] = s
		} else {
			row[c] = nil
		}
	}
	return row
}
