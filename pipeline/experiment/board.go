package experiment

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// board shows one status line per experiment. On a terminal the lines are
// redrawn in place as stages start and finish; elsewhere (CI logs, pipes)
// every change is one plain line, so the log reads in order.
type board struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	names    []string
	lines    map[string]*boardLine
	drawn    int // lines drawn last time (terminal)
}

type boardLine struct {
	status string // experiment status
	stage  string // current or last stage
	state  string // its status
	done   int    // stages finished
	start  time.Time
	end    time.Time
}

func newBoard(w io.Writer, terminal bool, names []string) *board {
	b := &board{w: w, terminal: terminal, names: names, lines: map[string]*boardLine{}}
	for _, n := range names {
		b.lines[n] = &boardLine{status: StatusQueued}
	}
	return b
}

// experiment records a change of an experiment's status.
func (b *board) experiment(name, status string) {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.lines[name]
	l.status = status
	switch status {
	case StatusRunning:
		l.start = time.Now()
	case StatusDone, StatusFailed, StatusCancelled:
		l.end = time.Now()
	}
	b.show(name)
}

// stage records a stage of an experiment starting ("running") or ending
// (its stagerun status).
func (b *board) stage(name, stage, status string) {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.lines[name]
	l.stage, l.state = stage, status
	if status != "running" {
		l.done++
	}
	b.show(name)
}

// show prints the change: the whole board redrawn on a terminal, the one
// line otherwise. Called with b.mu held.
func (b *board) show(name string) {
	if !b.terminal {
		fmt.Fprintln(b.w, b.line(name, b.lines[name]))
		return
	}
	var s strings.Builder
	if b.drawn > 0 {
		fmt.Fprintf(&s, "\x1b[%dA", b.drawn) // back to the first line
	}
	for _, n := range b.names {
		s.WriteString("\x1b[2K") // clear the line
		s.WriteString(b.line(n, b.lines[n]))
		s.WriteByte('\n')
	}
	b.drawn = len(b.names)
	io.WriteString(b.w, s.String())
}

func (b *board) line(name string, l *boardLine) string {
	width := 0
	for _, n := range b.names {
		width = max(width, len(n))
	}
	s := fmt.Sprintf("%-*s  %-9s", width, name, l.status)
	if l.stage != "" {
		s += fmt.Sprintf("  %d stage%s done; %s %s", l.done, plural(l.done), l.stage, l.state)
	}
	if !l.start.IsZero() {
		end := l.end
		if end.IsZero() {
			end = time.Now()
		}
		s += fmt.Sprintf("  (%s)", end.Sub(l.start).Round(time.Second))
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
