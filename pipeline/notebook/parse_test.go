package notebook

import (
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
