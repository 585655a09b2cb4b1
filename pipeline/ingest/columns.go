package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"
)

// FlightColumns is one row group of a flights Parquet file, read column by
// column: the columns the feature stages use, without building a FlightRow
// per row. Numbers come straight from the pages' value buffers; strings stay
// dictionary indexes into the row group's dictionary, so a 3M-row file costs
// a few array copies instead of millions of small allocations.
type FlightColumns struct {
	// FileRows is the number of rows in the whole file (for sizing).
	FileRows                         int
	Rows                             int
	DayOfMonth, DayOfWeek, DayOfYear []int32
	ArrDelay                         []float64
	DepDelay, Distance               []float64 // NaN for a null
	Carrier, Origin, Dest, FlightNum DictColumn
}

// DictColumn is a string column of one row group: each row's index into
// Dict, or -1 for a null.
type DictColumn struct {
	Dict  []string
	Index []int32
}

// Value is row i's string and whether it is present.
func (c *DictColumn) Value(i int) (string, bool) {
	if k := c.Index[i]; k >= 0 {
		return c.Dict[k], true
	}
	return "", false
}

// ScanFlightColumns reads the flights Parquet file at path (written by
// `datalab ingest`, schema FlightsSchema) one row group at a time, each
// column of a row group on its own goroutine, and calls fn with the columns
// in file order. The values are exactly those ScanFlights yields. fc's
// slices are reused for the next row group: fn must copy what it keeps.
//
// start, if not nil, is called with the file's row count (from its footer)
// before the first row group is read, so a caller can size its own columns
// while the reading goes on.
func ScanFlightColumns(ctx context.Context, path string, start func(fileRows int), fn func(*FlightColumns) error) error {
	f, pf, err := openIngested(path, FlightsSchema, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return err
	}
	defer f.Close()
	col := func(name string) (int, error) {
		leaf, ok := pf.Schema().Lookup(name)
		if !ok {
			return 0, fmt.Errorf("%s: no column %s", path, name)
		}
		return leaf.ColumnIndex, nil
	}
	type job struct {
		name string
		read func(parquet.ColumnChunk, *FlightColumns) error
	}
	jobs := []job{
		{"DayOfMonth", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.DayOfMonth, err = readInt32s(c, fc.DayOfMonth)
			return
		}},
		{"DayOfWeek", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.DayOfWeek, err = readInt32s(c, fc.DayOfWeek)
			return
		}},
		{"DayOfYear", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.DayOfYear, err = readInt32s(c, fc.DayOfYear)
			return
		}},
		{"ArrDelay", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.ArrDelay, err = readFloat64s(c, fc.ArrDelay)
			return
		}},
		{"DepDelay", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.DepDelay, err = readFloat64s(c, fc.DepDelay)
			return
		}},
		{"Distance", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.Distance, err = readFloat64s(c, fc.Distance)
			return
		}},
		{"Carrier", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.Carrier, err = readDict(c, fc.Carrier.Index)
			return
		}},
		{"FlightNum", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.FlightNum, err = readDict(c, fc.FlightNum.Index)
			return
		}},
		{"Origin", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.Origin, err = readDict(c, fc.Origin.Index)
			return
		}},
		{"Dest", func(c parquet.ColumnChunk, fc *FlightColumns) (err error) {
			fc.Dest, err = readDict(c, fc.Dest.Index)
			return
		}},
	}
	idx := make([]int, len(jobs))
	for i, j := range jobs {
		if idx[i], err = col(j.name); err != nil {
			return err
		}
	}
	fc := &FlightColumns{FileRows: int(pf.NumRows())}
	if start != nil {
		start(fc.FileRows)
	}
	for _, rg := range pf.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		fc.Rows = int(rg.NumRows())
		chunks := rg.ColumnChunks()
		var g errgroup.Group
		g.SetLimit(4)
		for i, j := range jobs {
			g.Go(func() error {
				if err := j.read(chunks[idx[i]], fc); err != nil {
					return fmt.Errorf("read %s: column %s: %w", path, j.name, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for _, n := range []int{len(fc.DayOfMonth), len(fc.DayOfWeek), len(fc.DayOfYear), len(fc.ArrDelay), len(fc.DepDelay),
			len(fc.Distance), len(fc.Carrier.Index), len(fc.FlightNum.Index), len(fc.Origin.Index), len(fc.Dest.Index)} {
			if n != fc.Rows {
				return fmt.Errorf("read %s: a column has %d values in a row group of %d rows", path, n, fc.Rows)
			}
		}
		if err := fn(fc); err != nil {
			return err
		}
	}
	return nil
}

// eachPage calls fn with every page of a column chunk.
func eachPage(c parquet.ColumnChunk, fn func(parquet.Page) error) error {
	pages := c.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(p)
		parquet.Release(p)
		if err != nil {
			return err
		}
	}
}

// present calls fn(row, k) for each row of page p (starting at row base)
// with k the index of its value among the page's non-null values, or -1 for
// a null. A required column's page has no definition levels.
func present(p parquet.Page, base int, fn func(row, k int)) {
	levels := p.DefinitionLevels()
	if levels == nil {
		for k := range int(p.NumValues()) {
			fn(base+k, k)
		}
		return
	}
	k := 0
	for i, d := range levels {
		if d > 0 {
			fn(base+i, k)
			k++
		} else {
			fn(base+i, -1)
		}
	}
}

// values returns buf resized to n values, reallocated only when too small.
func values[T any](buf []T, n int64) []T {
	if int64(cap(buf)) < n {
		return make([]T, n)
	}
	return buf[:n]
}

func readInt32s(c parquet.ColumnChunk, buf []int32) ([]int32, error) {
	out := values(buf, c.NumValues())[:0]
	err := eachPage(c, func(p parquet.Page) error {
		if p.DefinitionLevels() != nil && p.NumNulls() > 0 {
			return fmt.Errorf("unexpected null in a required column")
		}
		data := p.Data()
		out = append(out, data.Int32()...)
		return nil
	})
	return out, err
}

func readFloat64s(c parquet.ColumnChunk, buf []float64) ([]float64, error) {
	out := values(buf, c.NumValues())
	n := 0
	err := eachPage(c, func(p parquet.Page) error {
		data := p.Data()
		vals := data.Double()
		rows := int(p.NumValues())
		if n+rows > len(out) {
			return fmt.Errorf("more values than the chunk declares")
		}
		if p.DefinitionLevels() == nil {
			copy(out[n:], vals)
		} else {
			present(p, n, func(row, k int) {
				if k < 0 {
					out[row] = math.NaN()
				} else {
					out[row] = vals[k]
				}
			})
		}
		n += rows
		return nil
	})
	return out[:n], err
}

// readDict reads a string column as indexes into a dictionary: the chunk's
// own dictionary when its pages are dictionary-encoded (what `datalab
// ingest` writes), or one built from the values of plain pages.
func readDict(c parquet.ColumnChunk, buf []int32) (DictColumn, error) {
	out := DictColumn{Index: values(buf, c.NumValues())}
	n := 0
	var dict parquet.Dictionary
	var plain map[string]int32
	err := eachPage(c, func(p parquet.Page) error {
		rows := int(p.NumValues())
		if n+rows > len(out.Index) {
			return fmt.Errorf("more values than the chunk declares")
		}
		var vals func(k int) int32
		if d := p.Dictionary(); d != nil {
			// A column chunk has at most one dictionary, and it comes
			// before the chunk's first data page.
			if dict == nil {
				if plain != nil {
					return fmt.Errorf("a dictionary page after plain pages")
				}
				dict = d
				out.Dict = make([]string, d.Len())
				for i := range out.Dict {
					out.Dict[i] = string(d.Index(int32(i)).ByteArray())
				}
			}
			pd := p.Data()
			ix := pd.Int32()
			vals = func(k int) int32 { return ix[k] }
		} else {
			if plain == nil {
				plain = map[string]int32{}
			}
			pd := p.Data()
			data, offsets := pd.ByteArray()
			vals = func(k int) int32 {
				s := string(data[offsets[k]:offsets[k+1]])
				code, ok := plain[s]
				if !ok {
					code = int32(len(out.Dict))
					out.Dict = append(out.Dict, s)
					plain[s] = code
				}
				return code
			}
		}
		present(p, n, func(row, k int) {
			if k < 0 {
				out.Index[row] = -1
			} else {
				out.Index[row] = vals(k)
			}
		})
		n += rows
		return nil
	})
	out.Index = out.Index[:n]
	return out, err
}
