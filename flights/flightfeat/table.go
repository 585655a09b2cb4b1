package flightfeat

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

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

// RouteSep joins Origin and Dest in the route key, as the seed's Spark job
// did; a saved model's Route labels ("ATL-SFO") depend on it.
const RouteSep = "-"

// Route is the seed's route key, Origin + RouteSep + Dest: the one
// definition the features, the model's derivation (flightmodel) and the
// served requests (flightdelay.Request.Route) share.
func Route(origin, dest string) string { return origin + RouteSep + dest }

// FromRows builds a table from ingested rows.
func FromRows(rows []ingest.FlightRow) *Table {
	t := NewTable()
	t.Append(rows)
	return t
}

// ReadTable reads a flight Parquet file written by `datalab ingest` into a
// table, column by column (ingest.ScanFlightColumns): numbers are copied
// from the pages, strings map from each row group's Parquet dictionary to
// the table's codes through an array, and Route codes come from the
// (Origin, Dest) code pair. The table is the one Append builds from the same
// rows, codes and dictionary order included.
func ReadTable(ctx context.Context, path string) (*Table, error) {
	t := NewTable()
	var reserved sync.WaitGroup
	start := func(rows int) {
		// Allocating (and so zeroing and faulting in) ~64 bytes a row is a
		// third of the read: it runs on two goroutines, beside the
		// decoding of the first row group.
		reserved.Add(1)
		go func() {
			defer reserved.Done()
			t.reserve(rows)
		}()
	}
	first := true
	if err := ingest.ScanFlightColumns(ctx, path, start, func(fc *ingest.FlightColumns) error {
		if first {
			reserved.Wait()
			first = false
		}
		t.AppendColumns(fc)
		return nil
	}); err != nil {
		reserved.Wait()
		return nil, fmt.Errorf("read flights %s: %w (run `datalab run` to ingest it)", path, err)
	}
	return t, nil
}

// reserve gives every empty column capacity for rows values, allocating
// the columns on two goroutines.
func (t *Table) reserve(rows int) {
	var wg sync.WaitGroup
	num := make([][]float64, 0, len(t.Num))
	numCols := make([]string, 0, len(t.Num))
	for c, v := range t.Num {
		if len(v) == 0 {
			numCols = append(numCols, c)
			num = append(num, nil)
		}
	}
	str := make([][]int32, 0, len(t.Str))
	strCols := make([]string, 0, len(t.Str))
	for c, v := range t.Str {
		if len(v) == 0 {
			strCols = append(strCols, c)
			str = append(str, nil)
		}
	}
	for half := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := half; i < len(num); i += 2 {
				num[i] = make([]float64, 0, rows)
			}
			for i := half; i < len(str); i += 2 {
				str[i] = make([]int32, 0, rows)
			}
		}()
	}
	wg.Wait()
	for i, c := range numCols {
		t.Num[c] = num[i]
	}
	for i, c := range strCols {
		t.Str[c] = str[i]
	}
}

// AppendColumns adds a row group read by ingest.ScanFlightColumns. Codes are
// given in the order Append gives them — row by row, Carrier, Origin, Dest,
// Route — so the dictionary is the same whichever way the rows came in.
func (t *Table) AppendColumns(fc *ingest.FlightColumns) {
	n := fc.Rows
	grow := func(col []float64) []float64 { return growForFile(col, n, fc.FileRows) }
	growCodes := func(col []int32) []int32 { return growForFile(col, n, fc.FileRows) }
	for _, c := range []struct {
		name string
		v    []float64
	}{{ColDepDelay, fc.DepDelay}, {ColDistance, fc.Distance}, {ColArrDelay, fc.ArrDelay}} {
		t.Num[c.name] = append(grow(t.Num[c.name]), c.v...)
	}
	for _, c := range []struct {
		name string
		v    []int32
	}{{ColDayOfMonth, fc.DayOfMonth}, {ColDayOfWeek, fc.DayOfWeek}, {ColDayOfYear, fc.DayOfYear}} {
		col := grow(t.Num[c.name])
		for _, x := range c.v {
			col = append(col, float64(x))
		}
		t.Num[c.name] = col
	}
	// remap[k] is the table code of the row group's dictionary entry k,
	// -1 until the entry is first seen.
	remap := func(d *ingest.DictColumn) []int32 {
		m := make([]int32, len(d.Dict))
		for i := range m {
			m[i] = -1
		}
		return m
	}
	carrier, origin, dest := remap(&fc.Carrier), remap(&fc.Origin), remap(&fc.Dest)
	routes := make([]int32, len(fc.Origin.Dict)*len(fc.Dest.Dict))
	for i := range routes {
		routes[i] = -1
	}
	lookup := func(m []int32, d *ingest.DictColumn, k int32) int32 {
		if m[k] < 0 {
			m[k] = t.code(d.Dict[k])
		}
		return m[k]
	}
	strs := [4][]int32{
		growCodes(t.Str[ColCarrier]), growCodes(t.Str[ColOrigin]),
		growCodes(t.Str[ColDest]), growCodes(t.Str[ColRoute])}
	for i := range n {
		c := int32(-1)
		if k := fc.Carrier.Index[i]; k >= 0 {
			c = lookup(carrier, &fc.Carrier, k)
		}
		ok, dk := fc.Origin.Index[i], fc.Dest.Index[i]
		o := lookup(origin, &fc.Origin, ok)
		d := lookup(dest, &fc.Dest, dk)
		r := &routes[int(ok)*len(fc.Dest.Dict)+int(dk)]
		if *r < 0 {
			*r = t.code(Route(fc.Origin.Dict[ok], fc.Dest.Dict[dk]))
		}
		strs[0] = append(strs[0], c)
		strs[1] = append(strs[1], o)
		strs[2] = append(strs[2], d)
		strs[3] = append(strs[3], *r)
	}
	t.Str[ColCarrier], t.Str[ColOrigin], t.Str[ColDest], t.Str[ColRoute] = strs[0], strs[1], strs[2], strs[3]
}

// growForFile makes room for a row group of n rows in col, sized for the
// whole file (fileRows) on the first row group: no regrowth (and copying)
// per row group.
func growForFile[E any](col []E, n, fileRows int) []E {
	if cap(col)-len(col) < n {
		col = slices.Grow(col, max(n, fileRows-len(col)))
	}
	return col
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
