package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader yields the physical lines of a text file with their 1-based
// line numbers. Each record of the sources is one line: none of them has
// quoted fields spanning lines, and a record that would (an unterminated
// quote) is quarantined rather than allowed to swallow the lines after it.
type lineReader struct {
	r    *bufio.Reader
	buf  []byte
	line int64
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next line without its "\n" or "\r\n" terminator; the slice
// is valid until the following call. It returns io.EOF after the last line.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.buf = append(l.buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(l.buf) == 0 {
				return nil, io.EOF
			}
			break
		}
		if err != nil {
			return nil, err
		}
		break
	}
	l.line++
	b := l.buf
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}

// csvSplitter splits one CSV record (RFC 4180: comma separated, fields
// optionally double-quoted, "" for a quote inside a quoted field). It reuses
// its buffers: the fields are valid until the next call.
type csvSplitter struct {
	fields  [][]byte
	scratch []byte
}

var (
	errUnterminatedQuote = errors.New("unterminated quoted field")
	errQuoteAfterField   = errors.New("unexpected character after closing quote")
	errBareQuote         = errors.New(`bare " in unquoted field`)
)

// split returns the fields of line. Unquoted fields alias line; quoted ones
// are unescaped into the splitter's scratch buffer, so line itself is never
// modified (the quarantine needs it verbatim).
func (s *csvSplitter) split(line []byte) ([][]byte, error) {
	fields := s.fields[:0]
	defer func() { s.fields = fields[:0] }()
	if bytes.IndexByte(line, '"') < 0 {
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				fields = append(fields, line)
				return fields, nil
			}
			fields = append(fields, line[:i])
			line = line[i+1:]
		}
	}
	// Unescaped text is never longer than the line, so a scratch buffer of
	// len(line) never reallocates and earlier fields stay valid.
	if cap(s.scratch) < len(line) {
		s.scratch = make([]byte, 0, len(line))
	}
	scratch := s.scratch[:0]
	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			start := len(scratch)
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					return nil, errUnterminatedQuote
				}
				scratch = append(scratch, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					scratch = append(scratch, '"')
					pos++
					continue
				}
				break
			}
			fields = append(fields, scratch[start:len(scratch):len(scratch)])
			if pos == len(line) {
				return fields, nil
			}
			if line[pos] != ',' {
				return nil, errQuoteAfterField
			}
			pos++
			continue
		}
		i := bytes.IndexByte(line[pos:], ',')
		end := len(line)
		if i >= 0 {
			end = pos + i
		}
		f := line[pos:end]
		if bytes.IndexByte(f, '"') >= 0 {
			return nil, errBareQuote
		}
		fields = append(fields, f)
		if i < 0 {
			return fields, nil
		}
		pos = end + 1
	}
}
