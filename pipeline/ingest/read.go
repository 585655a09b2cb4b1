package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

// ReadMatches reads a matches Parquet file written by ingest.
func ReadMatches(path string) ([]MatchRow, error) {
	var rows []MatchRow
	err := scan(context.Background(), path, MatchesSchema, func(batch []MatchRow) error {
		rows = append(rows, batch...)
		return nil
	})
	return rows, err
}

// ReadResults reads a martj42 results Parquet file written by ingest.
func ReadResults(path string) ([]ResultRow, error) {
	var rows []ResultRow
	err := scan(context.Background(), path, ResultsSchema, func(batch []ResultRow) error {
		rows = append(rows, batch...)
		return nil
	})
	return rows, err
}

// ReadFlights reads a whole flight Parquet file written by ingest into
// memory. For large files (flights3m: 3M rows) prefer ScanFlights.
func ReadFlights(path string) ([]FlightRow, error) {
	var rows []FlightRow
	err := ScanFlights(context.Background(), path, func(batch []FlightRow) error {
		rows = append(rows, batch...)
		return nil
	})
	return rows, err
}

// ScanFlights streams a flight Parquet file written by ingest, calling fn
// with successive batches of rows in file order. The batch slice is reused:
// fn must copy rows it keeps beyond the call (the rows' pointers and strings
// are not reused and may be kept). Times are returned in UTC (wall clock,
// see FlightRow).
func ScanFlights(ctx context.Context, path string, fn func([]FlightRow) error) error {
	return scan(ctx, path, FlightsSchema, func(batch []FlightRow) error {
		for i := range batch {
			r := &batch[i]
			if r.CRSDepTime != nil {
				t := r.CRSDepTime.UTC()
				r.CRSDepTime = &t
			}
			if r.CRSArrTime != nil {
				t := r.CRSArrTime.UTC()
				r.CRSArrTime = &t
			}
		}
		return fn(batch)
	})
}

// scan reads path in batches of T after checking that the file was written
// with the expected datalab schema.
func scan[T any](ctx context.Context, path, schema string, fn func([]T) error) error {
	f, pf, err := openIngested(path, schema)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := parquet.NewGenericReader[T](pf)
	defer rd.Close()
	buf := make([]T, 8192)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		clear(buf)
		n, err := rd.Read(buf)
		if n > 0 {
			if ferr := fn(buf[:n]); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// openIngested opens a Parquet file `datalab ingest` wrote and checks that
// its schema is schema. The caller closes the file.
func openIngested(path, schema string, opts ...parquet.FileOption) (*os.File, *parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w (run `datalab ingest` first)", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size(), opts...)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	if got, _ := pf.Lookup(SchemaMetadataKey); got != schema {
		f.Close()
		return nil, nil, fmt.Errorf("%s: written with schema %q, want %q: re-run `datalab ingest` for this data set", path, got, schema)
	}
	return f, pf, nil
}
