package notebook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nbconvertFailure is the tail of what nbconvert 6.5 prints when a GoNB cell
// does not compile (testdata/broken.ipynb, cell 3).
const nbconvertFailure = `Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/nbclient/client.py", line 915, in _check_raise_for_error
    raise CellExecutionError.from_cell_and_msg(cell, exec_reply_content)
nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:
------------------
%%
var total int = "not a number"
fmt.Println(total)
------------------

# gonb_a932a71b
./main.go:11:17: cannot use "not a number" (untyped string constant) as int value in variable declaration

/usr/lib/python3/dist-packages/nbformat/__init__.py:92: MissingIDFieldWarning: Code cell is missing an id field
  validate(nb)
`

func TestParseCellError(t *testing.T) {
	nb := filepath.Join("testdata", "broken.ipynb")
	tests := []struct {
		name, out string
		cell      int
		msg       string // substring of the message; "" means no CellError
	}{
		{"compile error", nbconvertFailure, 3, `cannot use "not a number"`},
		{"unknown source", strings.Replace(nbconvertFailure, "fmt.Println(total)", "other()", 1), 0, "cannot use"},
		{"empty error", "CellExecutionError: An error occurred while executing the following cell:\n------------------\n%%\nfmt.Println(\"fine so far\")\n------------------\n", 2, "no error output"},
		{"no report", "jupyter: command not found\n", 0, ""},
		{"truncated", "CellExecutionError: An error occurred while executing the following cell:\n------------------\n%%\n", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := parseCellError(nb, tt.out)
			if tt.msg == "" {
				if ce != nil {
					t.Fatalf("got %v, want no cell error", ce)
				}
				return
			}
			if ce == nil {
				t.Fatal("no cell error parsed")
			}
			if ce.Cell != tt.cell || !strings.Contains(ce.Message, tt.msg) || strings.Contains(ce.Message, "Warning") {
				t.Errorf("cell %d message %q, want cell %d containing %q without warnings", ce.Cell, ce.Message, tt.cell, tt.msg)
			}
		})
	}
}

func FuzzParseCellError(f *testing.F) {
	f.Add(nbconvertFailure)
	f.Add("CellExecutionError: An error occurred while executing the following cell:\n------------------\n")
	f.Fuzz(func(t *testing.T, out string) {
		if ce := parseCellError(filepath.Join("testdata", "broken.ipynb"), out); ce != nil && ce.Message == "" {
			t.Errorf("empty message for %q", out)
		}
	})
}

// firstCellError reads the executed notebook: the first cell with an error
// output, its stderr and, unless the stderr carries it already, the error.
func TestFirstCellError(t *testing.T) {
	dir := t.TempDir()
	write := func(cells string) string {
		p := filepath.Join(dir, "x.ipynb")
		if err := os.WriteFile(p, []byte(`{"cells": [`+cells+`], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := `{"cell_type": "markdown", "source": "# t"}, {"cell_type": "code", "source": "%%\nfmt.Println(1)", "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}]}`
	if ce, err := firstCellError("x", write(ok)); err != nil || ce != nil {
		t.Fatalf("clean notebook: %v, %v", ce, err)
	}
	cases := []struct {
		name, outputs string
		want, not     []string
	}{
		{"panic", `{"output_type": "stream", "name": "stderr", "text": ["panic: boom\n", "\u001b[7m[[ Cell [2] Line 3 ]]\u001b[0m main.go:9\n", "exit status 2\n"]},
			{"output_type": "error", "ename": "ERROR", "evalue": "exit status 2", "traceback": ["exit status 2"]}`,
			[]string{"panic: boom", "[[ Cell [2] Line 3 ]] main.go:9", "exit status 2"}, []string{"\x1b["}},
		{"compile error", `{"output_type": "error", "ename": "ERROR", "evalue": "./main.go:11:17: cannot use x", "traceback": ["Cell[2]: Line 2", "cannot use x"]}`,
			[]string{"Cell[2]: Line 2\ncannot use x"}, nil},
		{"stderr then compile error", `{"output_type": "stream", "name": "stderr", "text": "warning: slow\n"},
			{"output_type": "error", "ename": "ERROR", "evalue": "./main.go:3: undefined: y", "traceback": ["undefined: y"]}`,
			[]string{"warning: slow", "undefined: y"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ce, err := firstCellError("x", write(ok+`, {"cell_type": "code", "source": "%%\nbad()", "outputs": [`+c.outputs+`]}, {"cell_type": "code", "source": "x", "outputs": [{"output_type": "error", "evalue": "later"}]}`))
			if err != nil || ce == nil {
				t.Fatalf("got %v, %v; want a cell error", ce, err)
			}
			if ce.Cell != 3 || ce.Source != "%%\nbad()" {
				t.Errorf("cell %d source %q, want cell 3", ce.Cell, ce.Source)
			}
			for _, w := range c.want {
				if !strings.Contains(ce.Message, w) {
					t.Errorf("message %q lacks %q", ce.Message, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(ce.Message, n) {
					t.Errorf("message %q has %q", ce.Message, n)
				}
			}
		})
	}
	if _, err := firstCellError("x", filepath.Join(dir, "missing.ipynb")); err == nil {
		t.Error("a missing executed notebook is not an error")
	}
}
