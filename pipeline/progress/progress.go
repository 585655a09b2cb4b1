// Package progress shows progress bars for long steps when stderr is a
// terminal, and stays silent otherwise (CI logs, pipes), so that stage
// packages can report progress without caring where they run.
package progress

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar counts work done. A nil *Bar is valid and does nothing.
type Bar struct{ pb *progressbar.ProgressBar }

// Enabled reports whether bars are drawn: stderr is a terminal and
// DATALAB_NO_PROGRESS is unset.
func Enabled() bool {
	return os.Getenv("DATALAB_NO_PROGRESS") == "" && term.IsTerminal(int(os.Stderr.Fd()))
}

// New returns a bar for total units (bytes when bytes is true, or -1 for
// unknown) described by desc, or nil when bars are disabled.
func New(total int64, desc string, bytes bool) *Bar {
	if !Enabled() {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	return &Bar{pb: progressbar.NewOptions64(total, opts...)}
}

// Add records n more units done.
func (b *Bar) Add(n int64) {
	if b != nil {
		b.pb.Add64(n)
	}
}

// Finish completes and clears the bar.
func (b *Bar) Finish() {
	if b != nil {
		b.pb.Finish()
	}
}

// Reader wraps r so that reads advance the bar (bytes). With a nil bar it
// returns r unchanged.
func (b *Bar) Reader(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	pr := progressbar.NewReader(r, b.pb)
	return &pr
}
