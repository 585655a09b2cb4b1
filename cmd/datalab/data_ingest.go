package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/spf13/cobra"
)

// Exit codes of `datalab ingest`.
const (
	exitIngestFailed = 1 // bad usage, missing or unreadable input, I/O error
	exitTooManyBad   = 2 // malformed rows above --max-bad-ratio; Parquet output not written
)

var ingestFlags struct {
	inputs      []string
	out         string
	dataDir     string
	distances   string
	maxBadRatio string
	maxLine     string
}

var ingestCmd = &cobra.Command{
	Use:   "ingest <dataset>",
	Short: "Convert a raw data set into typed Parquet, quarantining bad rows",
	Long:  ingestLong(),
	Example: `  datalab data pull matches && datalab ingest matches
  datalab ingest bts2008 --out build/parquet/bts2008.parquet
  datalab ingest flights-jsonl --input simple_flight_delay_features.jsonl.bz2
  DATALAB_MAX_BAD_RATIO=0 datalab ingest martj42    # fail on any malformed row`,
	Args:      cobra.ExactArgs(1),
	ValidArgs: datasetNames(),
	RunE:      runIngest,
}

func init() {
	f := ingestCmd.Flags()
	f.StringArrayVar(&ingestFlags.inputs, "input", nil,
		"input file (repeatable); replaces the data set's default inputs under --data-dir")
	f.StringVar(&ingestFlags.out, "out", "",
		"Parquet output (default build/parquet/<dataset>.parquet); the quarantine goes to <out without .parquet>.quarantine.jsonl")
	f.StringVar(&ingestFlags.dataDir, "data-dir", "data",
		"directory the data sets were pulled into by 'datalab data pull'")
	f.StringVar(&ingestFlags.distances, "distances", "",
		"airport-pair distance table for flight data sets (default <data-dir>/"+ingest.DefaultDistances+")")
	f.StringVar(&ingestFlags.maxBadRatio, "max-bad-ratio",
		envOr("DATALAB_MAX_BAD_RATIO", strconv.FormatFloat(ingest.DefaultMaxBadRatio, 'g', -1, 64)),
		"largest accepted share of malformed rows, 0…1 (env DATALAB_MAX_BAD_RATIO)")
	f.StringVar(&ingestFlags.maxLine, "max-line-bytes",
		envOr("DATALAB_MAX_LINE_BYTES", strconv.Itoa(ingest.DefaultMaxLineBytes)),
		"longest source line (or CSV record with quoted line breaks) read; a longer one is quarantined as line_too_long (env DATALAB_MAX_LINE_BYTES)")
	rootCmd.AddCommand(ingestCmd)
}

func datasetNames() []string {
	var names []string
	for _, d := range ingest.Datasets() {
		names = append(names, d.Name)
	}
	return names
}

func ingestLong() string {
	var b strings.Builder
	b.WriteString(`Convert one raw data set into a typed, zstd-compressed Parquet file with an
explicit schema (DATE, TIMESTAMP(MICROS), STRING, nullable columns), readable by
Spark, DuckDB and the later datalab stages.

Every row read ends up in the Parquet output or in the quarantine file beside it
(JSON Lines: file, line, raw, reason, detail, excluded). Malformed rows (bad
number, bad date, wrong column count, invalid UTF-8, …) count towards the
bad-row ratio; rows excluded by a rule (cancelled or diverted flights, which
have no arrival delay) are quarantined and reported but are not "bad".
Records are RFC 4180 CSV (a quoted field may hold line breaks; the quarantine
names the record's first line) or JSON Lines; a line longer than
--max-line-bytes is quarantined as line_too_long, a NUL byte as nul_byte.
Prints "read N, wrote M, quarantined Q" and the count per reason. Outputs are
written atomically and are byte-identical for the same input.

Data sets (default inputs relative to --data-dir):
`)
	for _, d := range ingest.Datasets() {
		in := "(needs --input)"
		if len(d.DefaultInputs) > 0 {
			in = strings.Join(d.DefaultInputs, ", ")
		}
		fmt.Fprintf(&b, "  %-14s %s\n  %-14s   default input: %s\n", d.Name, d.Description, "", in)
	}
	fmt.Fprintf(&b, `
Flight data sets also read the distance table (--distances, default
<data-dir>/%s) to fill Distance where the source lacks it.

Exit codes:
  0  success (malformed rows, if any, within --max-bad-ratio)
  %d  error: unknown data set, missing input (run `+"`datalab data pull <set>`"+`), unreadable
     file or header, write failure
  %d  malformed rows above --max-bad-ratio: the quarantine file is written for
     inspection, the Parquet output is not`, ingest.DefaultDistances, exitIngestFailed, exitTooManyBad)
	return b.String()
}

// ingestExitError carries the exit code of a failed ingest to main.
type ingestExitError struct {
	err  error
	code int
}

func (e *ingestExitError) Error() string { return e.err.Error() }
func (e *ingestExitError) Unwrap() error { return e.err }
func (e *ingestExitError) ExitCode() int { return e.code }

func runIngest(cmd *cobra.Command, args []string) error {
	ds, ok := ingest.Lookup(args[0])
	if !ok {
		return fmt.Errorf("unknown data set %q: want one of %s", args[0], strings.Join(datasetNames(), ", "))
	}
	maxBad, err := strconv.ParseFloat(ingestFlags.maxBadRatio, 64)
	if err != nil || maxBad < 0 || maxBad > 1 {
		return fmt.Errorf("--max-bad-ratio / DATALAB_MAX_BAD_RATIO %q: want a number between 0 and 1", ingestFlags.maxBadRatio)
	}
	maxLine, err := strconv.Atoi(ingestFlags.maxLine)
	if err != nil || maxLine <= 0 {
		return fmt.Errorf("--max-line-bytes / DATALAB_MAX_LINE_BYTES %q: want a positive number of bytes (default %d)", ingestFlags.maxLine, ingest.DefaultMaxLineBytes)
	}
	inputs := ingestFlags.inputs
	if len(inputs) == 0 {
		if inputs, err = ds.DefaultInputPaths(ingestFlags.dataDir); err != nil {
			return err
		}
	}
	out := ingestFlags.out
	if out == "" {
		out = filepath.Join("build", "parquet", ds.Name+".parquet")
	}
	dist := ingestFlags.distances
	if dist == "" {
		dist = filepath.Join(ingestFlags.dataDir, ingest.DefaultDistances)
	}
	rep, err := ingest.Run(cmd.Context(), ds, ingest.Config{Inputs: inputs, Output: out, Distances: dist, MaxBadRatio: maxBad, MaxLineBytes: maxLine})
	if rep != nil && (err == nil || errors.As(err, new(*ingest.BadRatioError))) {
		w := cmd.OutOrStdout()
		fmt.Fprintln(w, rep.Summary())
		for _, l := range rep.ReasonLines() {
			fmt.Fprintln(w, "  "+l)
		}
		if rep.DistanceJoined+rep.DistanceUnknown > 0 {
			fmt.Fprintf(w, "  Distance from the distance table: %d rows; unknown (left null): %d rows\n", rep.DistanceJoined, rep.DistanceUnknown)
		}
	}
	var bad *ingest.BadRatioError
	if errors.As(err, &bad) {
		return &ingestExitError{err: err, code: exitTooManyBad}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (quarantine: %s) in %v\n", rep.Output, rep.Quarantine, rep.Elapsed.Round(1e6))
	return nil
}
