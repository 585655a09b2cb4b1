package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/datalabhq/datalab/pipeline/ingest"
)

// DataQuality is what one ingest run did to a data set, read back from its
// outputs: the Parquet file's footer (rows written) and the quarantine file
// beside it (one JSON line per row not written, with its reason). Every row
// read is written or quarantined, so Read = Written + Quarantined.
type DataQuality struct {
	Dataset     string // data set name: the Parquet file's name without .parquet
	Parquet     string // the Parquet output, as given (slash-separated)
	Quarantine  string // its quarantine file (ingest.QuarantinePath)
	Read        int64
	Written     int64
	Quarantined int64
	Malformed   int64 // quarantined rows that count towards the bad-row ratio
	Excluded    int64 // quarantined rows excluded by a rule (cancelled, diverted)
	// Reasons counts quarantined rows per reason (ingest.Reason).
	Reasons map[string]int64
}

// ReadDataQuality counts the rows of the ingest output parquetPath and of
// its quarantine file, without reading the Parquet rows: the row count is
// in the footer. A missing or unreadable file, or a quarantine line that is
// not a quarantine record, is an error naming the file (and line) and
// saying how to rebuild it.
func ReadDataQuality(parquetPath string) (DataQuality, error) {
	q := DataQuality{
		Dataset:    strings.TrimSuffix(filepath.Base(parquetPath), ".parquet"),
		Parquet:    filepath.ToSlash(parquetPath),
		Quarantine: filepath.ToSlash(ingest.QuarantinePath(parquetPath)),
		Reasons:    map[string]int64{},
	}
	rebuild := fmt.Sprintf("re-run `datalab ingest %s` (or `datalab run ingest-%s`)", q.Dataset, q.Dataset)
	f, err := os.Open(parquetPath)
	if err != nil {
		return q, fmt.Errorf("data quality of %s: %w (%s)", q.Dataset, err, rebuild)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return q, fmt.Errorf("data quality of %s: %w", q.Dataset, err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return q, fmt.Errorf("data quality of %s: %s is not a readable Parquet file: %w (%s)", q.Dataset, parquetPath, err, rebuild)
	}
	q.Written = pf.NumRows()

	qf, err := os.Open(ingest.QuarantinePath(parquetPath))
	if err != nil {
		return q, fmt.Errorf("data quality of %s: quarantine file: %w (%s)", q.Dataset, err, rebuild)
	}
	defer qf.Close()
	sc := bufio.NewScanner(qf)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20) // a record holds its raw line, up to ingest's line limit
	for line := 1; sc.Scan(); line++ {
		var rec ingest.QuarantineRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Reason == "" {
			if err == nil {
				err = errors.New("no reason")
			}
			return q, fmt.Errorf("data quality of %s: %s line %d is not a quarantine record: %v (%s)", q.Dataset, q.Quarantine, line, err, rebuild)
		}
		q.Quarantined++
		q.Reasons[string(rec.Reason)]++
		if rec.Reason.Excluded() {
			q.Excluded++
		} else {
			q.Malformed++
		}
	}
	if err := sc.Err(); err != nil {
		return q, fmt.Errorf("data quality of %s: read %s: %w (%s)", q.Dataset, q.Quarantine, err, rebuild)
	}
	q.Read = q.Written + q.Quarantined
	return q, nil
}

// DataQuality appends the "Data quality" section: per data set the rows
// ingest read, wrote and quarantined (malformed, and excluded by a rule),
// the quarantine file by name, and the quarantined rows per reason.
func (r *Report) DataQuality(sets []DataQuality) {
	r.Section("Data quality",
		"What ingest did to each data set this report depends on: every row read is either in the Parquet output or in the quarantine file beside it, with its file, line and reason. Malformed rows count towards the bad-row limit (params.ingest.max_bad_ratio); rows excluded by a rule (cancelled or diverted flights) do not.")
	rows := make([][]string, len(sets))
	for i, q := range sets {
		rows[i] = []string{q.Dataset, qualityCount(q.Read), qualityCount(q.Written), qualityCount(q.Quarantined),
			qualityCount(q.Malformed), qualityCount(q.Excluded), strconv.FormatFloat(100*qualityShare(q.Malformed, q.Read), 'f', 3, 64) + "%", q.Quarantine}
	}
	r.Table("Rows per data set", []string{"Data set", "Read", "Written", "Quarantined", "Malformed", "Excluded by rule", "Malformed share", "Quarantine file"}, rows)
	var reasons [][]string
	for _, q := range sets {
		keys := slices.SortedFunc(maps.Keys(q.Reasons), func(a, b string) int {
			if q.Reasons[a] != q.Reasons[b] {
				return int(q.Reasons[b] - q.Reasons[a]) // most frequent first
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys {
			kind := "malformed"
			if ingest.Reason(k).Excluded() {
				kind = "excluded by rule"
			}
			reasons = append(reasons, []string{q.Dataset, k, kind, qualityCount(q.Reasons[k])})
		}
	}
	if len(reasons) == 0 {
		r.Paragraph("No row was quarantined.")
		return
	}
	r.Table("Quarantined rows per reason", []string{"Data set", "Reason", "Kind", "Rows"}, reasons)
}

func qualityCount(n int64) string { return strconv.FormatInt(n, 10) }

func qualityShare(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
