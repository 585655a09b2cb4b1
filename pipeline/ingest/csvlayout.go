package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// csvRows turns a parser of the fields of a record into a parser of lines:
// it rejects invalid UTF-8, broken quoting and a wrong column count before
// the fields are looked at.
func csvRows[T any](ncols int, parse func(f [][]byte) (T, *rowError)) lineParser[T] {
	var sp csvSplitter
	return func(line []byte) (T, *rowError) {
		var zero T
		if !utf8.Valid(line) {
			return zero, rejectf(ReasonInvalidUTF8, "line is not valid UTF-8")
		}
		if i := bytes.IndexByte(line, 0); i >= 0 {
			return zero, rejectf(ReasonNULByte, "NUL byte at byte %d of the row: text columns never hold one", i)
		}
		f, err := sp.split(line)
		if err != nil {
			return zero, rejectf(ReasonMalformedCSV, "%v", err)
		}
		if len(f) != ncols {
			return zero, rejectf(ReasonWrongColumnCount, "%d columns, want %d", len(f), ncols)
		}
		return parse(f)
	}
}

// readHeader reads the header line of a CSV file and returns its column
// names (a UTF-8 byte-order mark is ignored).
func readHeader(lr *lineReader) ([]string, error) {
	line, err := lr.next()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: no header row")
	}
	if err != nil {
		return nil, err
	}
	if n := lr.tooLong(); n > 0 {
		return nil, fmt.Errorf("header row is %d bytes, longer than the line limit of %d: is this a CSV file?", n, lr.max)
	}
	line = []byte(strings.TrimPrefix(string(line), "\ufeff"))
	var sp csvSplitter
	f, err := sp.split(line)
	if err != nil {
		return nil, fmt.Errorf("header row: %w", err)
	}
	names := make([]string, len(f))
	for i, b := range f {
		names[i] = string(b)
	}
	return names, nil
}

// expectHeader consumes the header and checks that it is exactly want.
func expectHeader(lr *lineReader, want []string) error {
	got, err := readHeader(lr)
	if err != nil {
		return err
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("header is %q, want the %d columns %q: is this the right file for this data set?",
			strings.Join(got, ","), len(want), strings.Join(want, ","))
	}
	return nil
}
