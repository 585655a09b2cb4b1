package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// DefaultMaxLineBytes is the default longest source line (or multi-line CSV
// record) ingest reads: far above any real row (the widest, a BTS 2017 row,
// is under 300 bytes) and small enough that a hostile file cannot make ingest
// hold gigabytes or write a 10 MB "team name" into Parquet.
const DefaultMaxLineBytes = 1 << 20

// quarantinePrefixBytes is how much of an over-long line the quarantine
// keeps: enough to find and recognise the row, not the whole megabytes.
const quarantinePrefixBytes = 4096

// physicalLine is a line read ahead while looking for the end of a quoted
// CSV field and given back because it did not belong to that record.
type physicalLine struct {
	data []byte
	line int64
	over int64
	crlf bool
}

// lineReader yields the physical lines of a text file with their 1-based
// line numbers, never holding more than max bytes of one line. For CSV it
// can also join the physical lines of an RFC 4180 record whose quoted field
// holds line breaks (quotedRecord).
type lineReader struct {
	r   *bufio.Reader
	buf []byte
	// line is the number of the last line returned.
	line int64
	// max is the longest line kept; longer lines are returned cut to their
	// first bytes, with over set to their full length.
	max  int
	over int64
	// crlf reports whether the last line ended in "\r\n".
	crlf bool
	// pending holds lines read ahead and given back, returned before any
	// new line is read; rec and ahead are quotedRecord's state.
	pending []physicalLine
	rec     []byte
	ahead   []physicalLine
	first   int64 // line number where the record in rec starts
	err     error // a read error met while reading ahead
}

func newLineReader(r io.Reader, max int) *lineReader {
	if max <= 0 {
		max = DefaultMaxLineBytes
	}
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20), max: max}
}

// next returns the next line without its "\n" or "\r\n" terminator; the slice
// is valid until the following call. It returns io.EOF after the last line.
// A line longer than the limit comes back as its first bytes, with tooLong
// reporting its length.
func (l *lineReader) next() ([]byte, error) {
	if len(l.pending) > 0 {
		p := l.pending[0]
		l.pending = l.pending[1:]
		l.line, l.over, l.crlf = p.line, p.over, p.crlf
		return p.data, nil
	}
	if l.err != nil {
		return nil, l.err
	}
	l.buf = l.buf[:0]
	var n int64 // bytes of the line including its terminator
	var last2 [2]byte
	for {
		chunk, err := l.r.ReadSlice('\n')
		n += int64(len(chunk))
		// Keep at most max+2 bytes: the longest allowed line and its "\r\n".
		if room := l.max + 2 - len(l.buf); room > 0 {
			l.buf = append(l.buf, chunk[:min(room, len(chunk))]...)
		}
		for _, c := range chunk[max(0, len(chunk)-2):] {
			last2[0], last2[1] = last2[1], c
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if n == 0 {
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
	// The terminator is "\n" or "\r\n"; a last line without "\n" loses a
	// trailing "\r" too, as it always has (the outputs stay byte-identical).
	term := int64(0)
	switch {
	case last2[1] == '\n' && n >= 2 && last2[0] == '\r':
		term = 2
	case last2[1] == '\n' || last2[1] == '\r':
		term = 1
	}
	l.crlf = term == 2
	length := n - term
	if length > int64(l.max) {
		l.over = length
		return l.buf[:l.max], nil
	}
	l.over = 0
	return l.buf[:length], nil
}

// tooLong returns the length of the last line if it was over the limit, 0
// otherwise.
func (l *lineReader) tooLong() int64 { return l.over }

// prefix cuts an over-long line to what the quarantine keeps, at a UTF-8
// boundary when the text is UTF-8.
func prefix(line []byte) []byte {
	if len(line) <= quarantinePrefixBytes {
		return line
	}
	p := line[:quarantinePrefixBytes]
	for i := 0; i < utf8.UTFMax && len(p) > 0 && !utf8.Valid(p); i++ {
		p = p[:len(p)-1]
	}
	if !utf8.Valid(p) {
		return line[:quarantinePrefixBytes]
	}
	return p
}

// quotedRecord joins first (the line just returned by next, which ends
// inside a quoted CSV field) with the following physical lines up to the one
// that closes the quote, as RFC 4180 reads a quoted field holding line
// breaks. It reports false when the quote is still open at the end of the
// file or the record would exceed the line limit. Either way the caller must
// then call acceptRecord (the lines belong to the record) or giveBack (they
// are read again as lines of their own); until then rec's first len(first)
// bytes hold first.
func (l *lineReader) quotedRecord(first []byte) ([]byte, bool) {
	l.first = l.line
	l.rec = append(l.rec[:0], first...)
	l.ahead = l.ahead[:0]
	var q csvQuoteState
	q.feed(first)
	crlf := l.crlf
	for q.inQuotes {
		data, err := l.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				l.err = err // reported once the lines read ahead are consumed
			}
			return nil, false
		}
		l.ahead = append(l.ahead, physicalLine{data: bytes.Clone(data), line: l.line, over: l.over, crlf: l.crlf})
		sep := "\n"
		if crlf {
			sep = "\r\n"
		}
		if l.over > 0 || len(l.rec)+len(sep)+len(data) > l.max {
			return nil, false
		}
		l.rec = append(append(l.rec, sep...), data...)
		q.feed(data)
		crlf = l.crlf
	}
	return l.rec, true
}

// acceptRecord consumes the lines quotedRecord read: they were part of the
// record.
func (l *lineReader) acceptRecord() { l.ahead = l.ahead[:0] }

// giveBack returns the lines quotedRecord read ahead to the reader, to be
// read again as records of their own, and rewinds the line number to the
// record's first line.
func (l *lineReader) giveBack() {
	if len(l.ahead) > 0 {
		l.pending = append(append([]physicalLine(nil), l.ahead...), l.pending...)
		l.ahead = l.ahead[:0]
	}
	l.line = l.first
}

// csvQuoteState follows RFC 4180 quoting across the physical lines of a
// record: a quote opens a quoted field only at the start of a field, "" is a
// quote inside one, and a quote inside an unquoted field is just a byte (the
// splitter rejects it later).
type csvQuoteState struct {
	inQuotes bool
	midField bool // inside a field that did not start with a quote
}

func (s *csvQuoteState) feed(b []byte) {
	i := 0
	for i < len(b) {
		if s.inQuotes {
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				return
			}
			i += j + 1
			if i < len(b) && b[i] == '"' {
				i++
				continue
			}
			s.inQuotes, s.midField = false, true
			continue
		}
		if !s.midField && b[i] == '"' {
			s.inQuotes = true
			i++
			continue
		}
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			s.midField = true
			return
		}
		i += j + 1
		s.midField = false
	}
}

// endsInQuotedField reports whether a CSV line ends inside an open quoted
// field, i.e. whether RFC 4180 continues the record on the next line.
func endsInQuotedField(line []byte) bool {
	if bytes.IndexByte(line, '"') < 0 {
		return false
	}
	var q csvQuoteState
	q.feed(line)
	return q.inQuotes
}

// csvSplitter splits one CSV record (RFC 4180: comma separated, fields
// optionally double-quoted, "" for a quote inside a quoted field, line breaks
// allowed inside quoted fields). It reuses its buffers: the fields are valid
// until the next call.
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
// modified (the quarantine needs it verbatim). A "\r\n" inside a quoted field
// reads as "\n", as encoding/csv reads it.
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
			if bytes.Contains(scratch[start:], []byte("\r\n")) {
				f := bytes.ReplaceAll(scratch[start:], []byte("\r\n"), []byte("\n"))
				scratch = append(scratch[:start], f...)
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
