package ingest

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
)

func jsonDecoder(r io.Reader) *json.Decoder { return json.NewDecoder(r) }

func TestCSVSplit(t *testing.T) {
	tests := []struct {
		line string
		want []string
		err  error
	}{
		{"a,b,c", []string{"a", "b", "c"}, nil},
		{"", []string{""}, nil},
		{"a,,", []string{"a", "", ""}, nil},
		{`"a,b",c`, []string{"a,b", "c"}, nil},
		{`"x ""q"" y",,"",z`, []string{`x "q" y`, "", "", "z"}, nil},
		{`2017-01-01,"N3CGAA","1135",-10.00,`, []string{"2017-01-01", "N3CGAA", "1135", "-10.00", ""}, nil},
		{`"Maceió","São Paulo"`, []string{"Maceió", "São Paulo"}, nil},
		{`"open,b`, nil, errUnterminatedQuote},
		{`"a"b,c`, nil, errQuoteAfterField},
		{`a"b,c`, nil, errBareQuote},
	}
	var sp csvSplitter
	for _, tt := range tests {
		got, err := sp.split([]byte(tt.line))
		if err != tt.err {
			t.Errorf("split(%q) error %v, want %v", tt.line, err, tt.err)
			continue
		}
		var gs []string
		for _, f := range got {
			gs = append(gs, string(f))
		}
		if tt.err == nil && !reflect.DeepEqual(gs, tt.want) {
			t.Errorf("split(%q) = %q, want %q", tt.line, gs, tt.want)
		}
	}
}

// FuzzCSVSplit checks the splitter against encoding/csv on single-line
// records: whenever encoding/csv reads exactly one record without error, the
// splitter must agree field by field, and it must not modify its input.
func FuzzCSVSplit(f *testing.F) {
	for _, s := range []string{
		`1993-08-08,Bolivia,Uruguay,South America,South America,59,22,0,0,3,1,FIFA World Cup qualification,La Paz,Bolivia,False,No,Win,,,,,,,,`,
		`2017-01-01,"N3CGAA","AA","DEN","Denver, CO","PHX","Phoenix, AZ","1135",-10.00,"1328",-17.00,0.00,"",0.00,,,,,,`,
		`2008,4,3,4,1201,1140,1352,1305,WN,165,N333SW,111,85,97,47,21,MCI,BNA,491,6,8,\N,,\N,21,0,26,0,0`,
		`"a ""b""",c`, `"x`, `a"b`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return // records are single lines; framing is the line reader's job
		}
		in := []byte(line)
		var sp csvSplitter
		got, err := sp.split(in)
		if string(in) != line {
			t.Fatalf("split modified its input: %q → %q", line, in)
		}
		r := csv.NewReader(strings.NewReader(line))
		r.FieldsPerRecord = -1
		want, werr := r.Read()
		if line == "" || strings.TrimSpace(line) == "" && werr != nil {
			return // encoding/csv skips empty lines; we see them as one empty field
		}
		if werr != nil {
			if err == nil {
				// encoding/csv rejects some lines we accept only if they contain
				// quotes in ways it treats differently; we must then also fail.
				t.Fatalf("split(%q) accepted %q, encoding/csv says %v", line, got, werr)
			}
			return
		}
		if err != nil {
			t.Fatalf("split(%q): %v, encoding/csv reads %q", line, err, want)
		}
		if len(got) != len(want) {
			t.Fatalf("split(%q) = %d fields, encoding/csv %d (%q)", line, len(got), len(want), want)
		}
		for i := range want {
			if string(got[i]) != want[i] {
				t.Fatalf("split(%q) field %d = %q, encoding/csv %q", line, i, got[i], want[i])
			}
		}
	})
}

// FuzzLineReader checks the line reader against bytes.Split: every line
// comes back whole (without its "\n" or "\r\n") and numbered, except lines
// over the limit, which come back as their first max bytes with their
// length reported.
func FuzzLineReader(f *testing.F) {
	f.Add("a,b\r\nc\n\nlong line here\r\n", 4)
	f.Add("no newline at end", 100)
	f.Add("\r\n\r\n\n", 1)
	f.Fuzz(func(t *testing.T, in string, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		lr := newLineReader(strings.NewReader(in), max)
		want := strings.Split(in, "\n")
		if strings.HasSuffix(in, "\n") || in == "" {
			want = want[:len(want)-1]
		}
		for i, w := range want {
			got, err := lr.next()
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			w = strings.TrimSuffix(w, "\r")
			if lr.line != int64(i+1) {
				t.Fatalf("line number %d, want %d", lr.line, i+1)
			}
			if len(w) > max {
				if lr.tooLong() != int64(len(w)) || string(got) != w[:max] {
					t.Fatalf("line %d (%d bytes, max %d): got %q, tooLong %d", i+1, len(w), max, got, lr.tooLong())
				}
				continue
			}
			if lr.tooLong() != 0 || string(got) != w {
				t.Fatalf("line %d: got %q, want %q", i+1, got, w)
			}
		}
		if _, err := lr.next(); err != io.EOF {
			t.Fatalf("after the last line: %v, want EOF", err)
		}
	})
}
