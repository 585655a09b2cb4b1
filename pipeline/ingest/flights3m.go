package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parquet-go/parquet-go"
)

// vegaFlight is one row of the vega-datasets flights-3m.parquet file
// (3,000,000 US flights of 2001, written by pyarrow): date is the departure
// as a local wall-clock TIMESTAMP(MICROS), delay the arrival delay in
// minutes, distance in miles. All columns are optional in the file.
type vegaFlight struct {
	Date        *int64  `parquet:"date,timestamp(microsecond:local)"`
	Delay       *int64  `parquet:"delay"`
	Distance    *int64  `parquet:"distance"`
	Origin      *string `parquet:"origin"`
	Destination *string `parquet:"destination"`
}

// vegaColumns are the columns runFlights3M needs, with the physical type each
// must have.
var vegaColumns = map[string]parquet.Kind{
	"date": parquet.Int64, "delay": parquet.Int64, "distance": parquet.Int64,
	"origin": parquet.ByteArray, "destination": parquet.ByteArray,
}

// checkVegaSchema fails with a clear message when the file is not the
// flights-3m layout, instead of converting it into nonsense.
func checkVegaSchema(s *parquet.Schema) error {
	for name, kind := range vegaColumns {
		col, ok := s.Lookup(name)
		if !ok {
			return fmt.Errorf("not the flights-3m layout: no column %q (want date, delay, distance, origin, destination)", name)
		}
		if got := col.Node.Type().Kind(); got != kind {
			return fmt.Errorf("not the flights-3m layout: column %q is %v, want %v", name, got, kind)
		}
	}
	return nil
}

// raw renders a source row for the quarantine file.
func (v *vegaFlight) raw() []byte {
	type out struct {
		Date        *string `json:"date"`
		Delay       *int64  `json:"delay"`
		Distance    *int64  `json:"distance"`
		Origin      *string `json:"origin"`
		Destination *string `json:"destination"`
	}
	o := out{Delay: v.Delay, Distance: v.Distance, Origin: v.Origin, Destination: v.Destination}
	if v.Date != nil {
		s := time.UnixMicro(*v.Date).UTC().Format("2006-01-02T15:04:05.999999")
		o.Date = &s
	}
	b, _ := json.Marshal(o)
	return b
}

// toFlight re-types a flights-3m row into FlightRow: date → FlightDate,
// CRSDepTime and the DayOf* columns; delay → ArrDelay; distance → Distance;
// origin/destination → Origin/Dest. The file has no carrier, flight number,
// departure delay or arrival time: those stay null.
func (v *vegaFlight) toFlight() (FlightRow, *rowError) {
	var row FlightRow
	if v.Date == nil {
		return row, rejectf(ReasonMissingValue, "column date is null")
	}
	dep := time.UnixMicro(*v.Date).UTC()
	row.FlightDate = DateOf(dep)
	row.CRSDepTime = &dep
	row.setCalendar()
	if v.Origin == nil || *v.Origin == "" {
		return row, rejectf(ReasonMissingValue, "column origin is null")
	}
	if v.Destination == nil || *v.Destination == "" {
		return row, rejectf(ReasonMissingValue, "column destination is null")
	}
	row.Origin, row.Dest = *v.Origin, *v.Destination
	if !isAirport(row.Origin) || !isAirport(row.Dest) {
		return row, rejectf(ReasonBadValue, "%s-%s: airport codes are 3 letters or digits", row.Origin, row.Dest)
	}
	if v.Distance != nil {
		if *v.Distance < 0 {
			return row, rejectf(ReasonBadNumber, "column distance: negative distance %d", *v.Distance)
		}
		d := float64(*v.Distance)
		row.Distance = &d
	}
	if v.Delay == nil {
		return row, rejectf(ReasonMissingArrDelay, "column delay is null")
	}
	row.ArrDelay = float64(*v.Delay)
	return row, nil
}

func runFlights3M(ctx context.Context, r *runner) error {
	sink, err := openSink[FlightRow](r, FlightsSchema)
	if err != nil {
		return err
	}
	for _, file := range r.cfg.Inputs {
		if err := ingestVegaFile(ctx, r, sink, file); err != nil {
			return err
		}
	}
	return nil
}

func ingestVegaFile(ctx context.Context, r *runner, sink *parquetSink[FlightRow], file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: not a readable Parquet file: %w", file, err)
	}
	if err := checkVegaSchema(pf.Schema()); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	total := pf.NumRows()
	rd := parquet.NewGenericReader[vegaFlight](pf)
	defer rd.Close()
	buf := make([]vegaFlight, 8192)
	var rowNum int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := rd.Read(buf)
		for i := range buf[:n] {
			rowNum++
			r.rep.Read++
			row, e := buf[i].toFlight()
			if e != nil {
				if err := r.reject(file, rowNum, buf[i].raw(), e); err != nil {
					return err
				}
				continue
			}
			r.joinDistance(&row)
			if err := sink.add(row); err != nil {
				return err
			}
			r.rep.Wrote++
		}
		if total > 0 {
			r.bar.Add(int64(n) * st.Size() / total)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s row %d: %w", file, rowNum+1, err)
		}
	}
	if rowNum != total {
		return fmt.Errorf("%s: read %d rows, the footer says %d", file, rowNum, total)
	}
	return nil
}
