package ingest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// QuarantineRecord is one line of a quarantine file: a source row that is
// not in the Parquet output, and why.
type QuarantineRecord struct {
	// File is the source file as named on the command line.
	File string `json:"file"`
	// Line is the 1-based line number in File (for Parquet sources, the
	// 1-based row number).
	Line int64 `json:"line"`
	// Raw is the row as it appeared in the source (for Parquet sources, the
	// row rendered as JSON). Invalid UTF-8 is replaced by U+FFFD here; the
	// exact bytes are then in RawBase64.
	Raw       string `json:"raw"`
	RawBase64 string `json:"raw_base64,omitempty"`
	// Reason is the stable identifier of the rule the row broke.
	Reason Reason `json:"reason"`
	// Detail names the column and the value at fault.
	Detail string `json:"detail"`
	// Excluded is true for rows excluded by a rule (cancelled, diverted)
	// rather than malformed; they do not count towards the bad-row ratio.
	Excluded bool `json:"excluded"`
}

// QuarantineWriter writes quarantine records as JSON Lines, atomically: the
// file appears (or is replaced) only on Commit.
type QuarantineWriter struct {
	f   *atomicfile.File
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewQuarantineWriter starts writing the quarantine file path.
func NewQuarantineWriter(path string) (*QuarantineWriter, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // keep raw rows readable: '<', '>' and '&' as is
	return &QuarantineWriter{f: f, bw: bw, enc: enc}, nil
}

// Add appends one record for the row raw at file:line.
func (q *QuarantineWriter) Add(file string, line int64, raw []byte, reason Reason, detail string) error {
	rec := QuarantineRecord{File: file, Line: line, Raw: string(raw), Reason: reason, Detail: detail, Excluded: reason.Excluded()}
	if !utf8.Valid(raw) {
		rec.RawBase64 = base64.StdEncoding.EncodeToString(raw)
	}
	if err := q.enc.Encode(&rec); err != nil {
		return fmt.Errorf("write quarantine %s: %w", q.f.Path(), err)
	}
	return nil
}

// Commit publishes the quarantine file.
func (q *QuarantineWriter) Commit() error {
	if err := q.bw.Flush(); err != nil {
		q.f.Abort()
		return fmt.Errorf("write quarantine %s: %w", q.f.Path(), err)
	}
	return q.f.Commit()
}

// Abort discards the quarantine file; safe after Commit.
func (q *QuarantineWriter) Abort() { q.f.Abort() }
