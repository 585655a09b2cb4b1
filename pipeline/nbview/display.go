package nbview

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/janpfeifer/gonb/gonbui"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// The helpers below are what every notebook under notebooks/ used to declare
// in its own set-up cell. They display through GoNB (gonbui), so they do
// something only inside a GoNB cell; elsewhere (tests) gonbui drops the
// output.

// Show renders p as a w×h inch PNG and displays it in the cell's output. A
// plot that cannot be encoded stops the cell (panic), as a notebook would.
func Show(p *plot.Plot, w, h float64) {
	png := Must(PNG(p, vg.Length(w)*vg.Inch, vg.Length(h)*vg.Inch))
	gonbui.DisplayPNG(png)
}

// ShowHTML displays an HTML fragment (Rows, RawRows, Table, …) in the cell's
// output.
func ShowHTML(fragment string) { gonbui.DisplayHTML(fragment) }

// ShowRows displays Rows(header, rows).
func ShowRows(header []string, rows [][]string) { ShowHTML(Rows(header, rows)) }

// Pct is 100·part/whole, 0 for an empty whole.
func Pct(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

// Percent formats a percentage v (already ×100) with digits decimals and a
// "%" sign: Percent(12.345, 1) = "12.3%".
func Percent(v float64, digits int) string {
	return strconv.FormatFloat(v, 'f', digits, 64) + "%"
}

// Must is v, or stops the cell with err (panic). The pipeline's readers say
// in their errors which stage makes a missing output, so the message is the
// cell's answer.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Must2 is Must for functions returning two values and an error.
func Must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// Root is the repository the notebook runs against: DATALAB_ROOT, which
// `datalab lab` and `datalab notebooks run` set, or "." outside them.
func Root() string {
	if r := os.Getenv("DATALAB_ROOT"); r != "" {
		return r
	}
	return "."
}

// Path is a path under Root.
func Path(rel ...string) string { return filepath.Join(append([]string{Root()}, rel...)...) }

// Quiet keeps the pipeline packages' progress logs (which carry timings that
// differ run to run) out of the cell's output; warnings and errors still
// show. Call it from an init_ function so every cell is quiet.
func Quiet() { slog.SetLogLoggerLevel(slog.LevelWarn) }

// ModeEnv names the environment variable pipeline/notebook sets to
// "headless" when it executes a notebook through nbconvert, where no browser
// runs a widget's JavaScript.
const ModeEnv = "DATALAB_NOTEBOOK_MODE"

// Interactive reports whether the cell runs in a kernel a browser is
// attached to (`datalab lab`) rather than headless (`datalab notebooks run`,
// the pipeline): widgets are worth showing only then. A cell that offers a
// widget shows its static form when Interactive is false, so the rendered
// page has the same content on every run.
func Interactive() bool {
	return gonbui.IsNotebook && os.Getenv(ModeEnv) != "headless"
}
