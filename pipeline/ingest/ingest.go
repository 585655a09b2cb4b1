package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/progress"
)

// DefaultMaxBadRatio is the share of malformed rows above which Run fails.
const DefaultMaxBadRatio = 0.01

// Dataset is one source data set that ingest knows how to convert.
type Dataset struct {
	// Name is the command-line name (`datalab ingest <Name>`).
	Name string
	// Description says what the source is and what the output holds.
	Description string
	// DefaultInputs are glob patterns relative to the data directory that
	// `datalab data pull` fills; matches are sorted. Empty means the input
	// must be given explicitly.
	DefaultInputs []string
	// PullSet is the `datalab data pull` set that provides DefaultInputs.
	PullSet string
	// Flights is true for the data sets ingested into FlightRow; they need
	// the distance table.
	Flights bool

	run func(ctx context.Context, r *runner) error
}

// DefaultDistances is the distance table's path relative to the data
// directory (pull set "distances").
const DefaultDistances = "distances/origin_dest_distances.jsonl"

var datasets = []Dataset{
	{
		Name:          "matches",
		Description:   "Kaggle international matches 1993–2022 (25 columns) → MatchRow",
		DefaultInputs: []string{"matches/international_matches.csv"},
		PullSet:       "matches",
		run:           runMatches,
	},
	{
		Name:          "martj42",
		Description:   "martj42 international results 1872– (9 columns) → ResultRow",
		DefaultInputs: []string{"martj42/results.csv"},
		PullSet:       "martj42",
		run:           runResults,
	},
	{
		Name:          "bts2008",
		Description:   "BTS on-time rows 2008, headerless 29-column layout → FlightRow",
		DefaultInputs: []string{"bts2008/flights_2008_*.csv"},
		PullSet:       "bts2008",
		Flights:       true,
		run:           runBTS2008,
	},
	{
		Name:          "bts2017",
		Description:   "BTS on-time rows with a header row (2017 layout: FL_DATE, CARRIER, …) → FlightRow",
		DefaultInputs: []string{"bts2017/flights_sample.csv"},
		PullSet:       "bts2017",
		Flights:       true,
		run:           runBTSHeader,
	},
	{
		Name:        "flights-jsonl",
		Description: "the seed's JSON Lines flight format (simple_flight_delay_features, optionally .bz2) → FlightRow",
		Flights:     true,
		run:         runFlightsJSONL,
	},
	{
		Name:          "flights3m",
		Description:   "vega flights-3m Parquet (3,000,000 flights of 2001) → FlightRow",
		DefaultInputs: []string{"flights3m/flights-3m.parquet"},
		PullSet:       "flights3m",
		Flights:       true,
		run:           runFlights3M,
	},
}

// Datasets lists the data sets ingest converts, in a stable order.
func Datasets() []Dataset { return append([]Dataset(nil), datasets...) }

// Lookup finds a data set by name.
func Lookup(name string) (Dataset, bool) {
	for _, d := range datasets {
		if d.Name == name {
			return d, true
		}
	}
	return Dataset{}, false
}

// ErrMissingInput is wrapped by DefaultInputPaths when the files a data set
// reads by default are not there.
var ErrMissingInput = errors.New("input not found")

// DefaultInputPaths expands the data set's default inputs under dataDir. A
// missing input is an error that says which `datalab data pull` fetches it.
func (d Dataset) DefaultInputPaths(dataDir string) ([]string, error) {
	if len(d.DefaultInputs) == 0 {
		return nil, fmt.Errorf("data set %s has no default input: give the file with --input", d.Name)
	}
	var paths []string
	for _, pat := range d.DefaultInputs {
		m, err := filepath.Glob(filepath.Join(dataDir, pat))
		if err != nil {
			return nil, fmt.Errorf("default input pattern %s: %w", pat, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%w: %s (run `datalab data pull %s` first, or give --input)",
				ErrMissingInput, filepath.Join(dataDir, pat), d.PullSet)
		}
		sort.Strings(m)
		paths = append(paths, m...)
	}
	return paths, nil
}

// Config says what to read and where to write.
type Config struct {
	// Inputs are the source files, read in order (line numbers are per file).
	Inputs []string
	// Output is the Parquet file to write; the quarantine goes beside it
	// (see QuarantinePath).
	Output string
	// Distances is the distance table (JSON Lines) for flight data sets.
	Distances string
	// MaxBadRatio is the largest accepted share of malformed rows among the
	// rows read; above it Run fails with a *BadRatioError and does not
	// publish the Parquet output (the quarantine is still written).
	MaxBadRatio float64
	// MaxLineBytes is the longest source line, or CSV record whose quoted
	// fields span lines, that is read; a longer one is quarantined as
	// line_too_long (its first bytes kept) and ingest goes on. 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
}

// QuarantinePath is the quarantine file for a Parquet output: the output
// path without ".parquet", plus ".quarantine.jsonl".
func QuarantinePath(output string) string {
	return strings.TrimSuffix(output, ".parquet") + ".quarantine.jsonl"
}

// Report counts what a run did. Read = Wrote + Quarantined always holds:
// every row read is either written or quarantined.
type Report struct {
	Dataset     string
	Output      string
	Quarantine  string
	Read        int64 // data rows read (header and blank lines excluded)
	Wrote       int64 // rows in the Parquet output
	Quarantined int64 // rows in the quarantine file
	Malformed   int64 // quarantined rows that count towards the bad-row ratio
	Excluded    int64 // quarantined rows excluded by a rule (cancelled, diverted)
	BlankLines  int64 // empty lines skipped (they hold no row)
	// Reasons counts quarantined rows per reason.
	Reasons map[Reason]int64
	// DistanceJoined counts flight rows whose Distance came from the
	// distance table; DistanceUnknown those left null because the table has
	// no entry for the pair either.
	DistanceJoined, DistanceUnknown int64
	InputBytes                      int64
	Elapsed                         time.Duration
}

// BadRatio is Malformed / Read (0 when nothing was read).
func (r *Report) BadRatio() float64 {
	if r.Read == 0 {
		return 0
	}
	return float64(r.Malformed) / float64(r.Read)
}

// Summary is the one-line outcome: "read N, wrote M, quarantined Q".
func (r *Report) Summary() string {
	return fmt.Sprintf("read %d, wrote %d, quarantined %d", r.Read, r.Wrote, r.Quarantined)
}

// ReasonLines describes the quarantined rows per reason, most frequent
// first, e.g. "cancelled: 372 (excluded by rule)".
func (r *Report) ReasonLines() []string {
	type kv struct {
		r Reason
		n int64
	}
	var all []kv
	for k, v := range r.Reasons {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].r < all[j].r
	})
	lines := make([]string, len(all))
	for i, e := range all {
		kind := "malformed"
		if e.r.Excluded() {
			kind = "excluded by rule"
		}
		lines[i] = fmt.Sprintf("%s: %d (%s)", e.r, e.n, kind)
	}
	return lines
}

// BadRatioError is returned by Run when malformed rows exceed MaxBadRatio.
type BadRatioError struct {
	Report *Report
	Max    float64
}

func (e *BadRatioError) Error() string {
	return fmt.Sprintf("%s: %d of %d rows malformed (%.4f > max %.4f); Parquet output not written, see %s",
		e.Report.Dataset, e.Report.Malformed, e.Report.Read, e.Report.BadRatio(), e.Max, e.Report.Quarantine)
}

// Run converts the inputs of data set ds into cfg.Output and its quarantine
// file. The Parquet output is published only when the run succeeds; the
// quarantine file is published whenever the inputs could be read, so a
// failing run can be inspected.
func Run(ctx context.Context, ds Dataset, cfg Config) (*Report, error) {
	if ds.run == nil {
		return nil, fmt.Errorf("unknown data set %q", ds.Name)
	}
	if len(cfg.Inputs) == 0 {
		return nil, fmt.Errorf("ingest %s: no input files", ds.Name)
	}
	if cfg.Output == "" {
		return nil, fmt.Errorf("ingest %s: no output path", ds.Name)
	}
	if cfg.MaxBadRatio < 0 || cfg.MaxBadRatio > 1 {
		return nil, fmt.Errorf("max bad-row ratio %v: want a value in [0, 1]", cfg.MaxBadRatio)
	}
	if cfg.MaxLineBytes < 0 {
		return nil, fmt.Errorf("max line length %d bytes: want a positive number (0 for the default %d)", cfg.MaxLineBytes, DefaultMaxLineBytes)
	}
	start := time.Now()
	rep := &Report{Dataset: ds.Name, Output: cfg.Output, Quarantine: QuarantinePath(cfg.Output), Reasons: map[Reason]int64{}}
	for _, in := range cfg.Inputs {
		st, err := os.Stat(in)
		if err != nil {
			return nil, fmt.Errorf("ingest %s: %w", ds.Name, err)
		}
		rep.InputBytes += st.Size()
	}
	r := &runner{cfg: cfg, rep: rep}
	if ds.Flights {
		if cfg.Distances == "" {
			return nil, fmt.Errorf("ingest %s: no distance table given", ds.Name)
		}
		d, err := LoadDistances(cfg.Distances)
		if err != nil {
			return nil, fmt.Errorf("ingest %s: %w (run `datalab data pull distances` or give --distances)", ds.Name, err)
		}
		r.distances = d
	}
	q, err := NewQuarantineWriter(rep.Quarantine)
	if err != nil {
		return nil, err
	}
	defer q.Abort()
	r.q = q
	r.bar = progress.New(rep.InputBytes, "ingest "+ds.Name, true)
	err = ds.run(ctx, r)
	r.bar.Finish()
	if err != nil {
		if r.abort != nil {
			r.abort()
		}
		return rep, fmt.Errorf("ingest %s: %w", ds.Name, err)
	}
	if rep.Read != rep.Wrote+rep.Quarantined {
		r.abort()
		return rep, fmt.Errorf("ingest %s: internal accounting error: read %d != wrote %d + quarantined %d",
			ds.Name, rep.Read, rep.Wrote, rep.Quarantined)
	}
	if err := q.Commit(); err != nil {
		r.abort()
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	if rep.BadRatio() > cfg.MaxBadRatio {
		r.abort()
		return rep, &BadRatioError{Report: rep, Max: cfg.MaxBadRatio}
	}
	if err := r.commit(); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// runner carries one run's state: the quarantine, the counters and the
// commit/abort of the Parquet sink that the data set's run function opened.
type runner struct {
	cfg       Config
	rep       *Report
	q         *QuarantineWriter
	bar       *progress.Bar
	distances *DistanceTable
	commit    func() error
	abort     func()
}

// reject quarantines one row.
func (r *runner) reject(file string, line int64, raw []byte, e *rowError) error {
	r.rep.Quarantined++
	r.rep.Reasons[e.reason]++
	if e.reason.Excluded() {
		r.rep.Excluded++
	} else {
		r.rep.Malformed++
	}
	return r.q.Add(file, line, raw, e.reason, e.detail)
}

// openSink opens the Parquet output for rows of T and registers its commit
// and abort with the runner.
func openSink[T any](r *runner, schema string) (*parquetSink[T], error) {
	s, err := newParquetSink[T](r.cfg.Output, schema)
	if err != nil {
		return nil, err
	}
	r.commit, r.abort = s.commit, s.abort
	return s, nil
}

// lineParser converts one source line into a row.
type lineParser[T any] func(line []byte) (T, *rowError)

// framing says how a file's bytes divide into records.
type framing int

const (
	// lineFraming: every physical line is a record (JSON Lines).
	lineFraming framing = iota
	// csvFraming: RFC 4180 records, whose quoted fields may hold line
	// breaks; quarantine line numbers are the record's first physical line.
	csvFraming
)

// isFramingError reports whether a rejection can mean that the record was
// cut at a line break inside a quoted field rather than being bad itself.
func isFramingError(e *rowError) bool {
	return e.reason == ReasonMalformedCSV || e.reason == ReasonWrongColumnCount
}

// fileStart prepares the parser for one file; it may consume a header line
// from lr. A header that does not match the layout is an error for the whole
// file (it is not a row).
type fileStart[T any] func(file string, lr *lineReader) (lineParser[T], error)

// ingestLines runs every input file through start and its line parser,
// writing rows to sink and rejected lines to the quarantine.
func ingestLines[T any](ctx context.Context, r *runner, sink *parquetSink[T], open func(string) (io.ReadCloser, error), fr framing, start fileStart[T]) error {
	for _, file := range r.cfg.Inputs {
		if err := ingestFile(ctx, r, sink, file, open, fr, start); err != nil {
			return err
		}
	}
	return nil
}

func ingestFile[T any](ctx context.Context, r *runner, sink *parquetSink[T], file string, open func(string) (io.ReadCloser, error), fr framing, start fileStart[T]) error {
	rc, err := open(file)
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := newLineReader(rc, r.cfg.MaxLineBytes)
	parse, err := start(file, lr)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for {
		line, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s line %d: %w", file, lr.line+1, err)
		}
		if n := lr.tooLong(); n > 0 {
			r.rep.Read++
			e := rejectf(ReasonLineTooLong, "line of %d bytes is longer than the limit of %d bytes (--max-line-bytes); raw holds its first bytes", n, lr.max)
			if err := r.reject(file, lr.line, prefix(line), e); err != nil {
				return err
			}
			continue
		}
		if len(line) == 0 {
			r.rep.BlankLines++
			continue
		}
		r.rep.Read++
		if r.rep.Read%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		start := lr.line
		row, rerr := parse(line)
		if rerr != nil && fr == csvFraming && isFramingError(rerr) && endsInQuotedField(line) {
			// RFC 4180: the quoted field goes on on the next line. The joined
			// record is taken only if it is a record of the layout; otherwise
			// the line alone is quarantined and the lines after it are read
			// as records of their own, so a stray quote cannot swallow them.
			n := len(line)
			rec, ok := lr.quotedRecord(line)
			line = lr.rec[:n] // the line's own buffer was reused for reading ahead
			if ok {
				var rerr2 *rowError
				var row2 T
				if row2, rerr2 = parse(rec); rerr2 != nil && isFramingError(rerr2) {
					ok = false
				} else {
					line, row, rerr = rec, row2, rerr2
				}
			}
			if ok {
				lr.acceptRecord()
			} else {
				lr.giveBack()
			}
		}
		if rerr != nil {
			if err := r.reject(file, start, line, rerr); err != nil {
				return err
			}
			continue
		}
		if err := sink.add(row); err != nil {
			return err
		}
		r.rep.Wrote++
	}
}

// openPlain opens a file, counting its bytes on the progress bar.
func (r *runner) openPlain(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return readCloser{Reader: r.bar.Reader(f), Closer: f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
