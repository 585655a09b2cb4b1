package matchapp

import (
	"context"
	"html/template"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/datalabhq/datalab/pipeline/drift"
	"github.com/datalabhq/datalab/pipeline/monitor"
)

// DriftCheck judges the requests the serving version answered over a
// window against that version's training data (matchmonitor.Watch, wired
// by `datalab serve`).
type DriftCheck func(ctx context.Context) (*monitor.Report, error)

// DefaultDriftEvery is how often the dashboard's drift panel is computed.
const DefaultDriftEvery = 5 * time.Minute

// DriftPanel is the dashboard's drift panel: pipeline/drift's section for
// the serving version over a window, as `datalab monitor matches` writes it,
// computed in the background every interval — never per page view, so a
// dashboard GET costs the same with it — and shown as of its last
// computation. A failed check is shown beside the last good panel.
type DriftPanel struct {
	check  DriftCheck
	every  time.Duration
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	good    template.HTML // the last computed section
	failure string        // the last check's error, "" when it succeeded
	at      time.Time     // when the last check ended
}

// NewDriftPanel returns a panel computed by check every every
// (DefaultDriftEvery when 0). Run computes it.
func NewDriftPanel(check DriftCheck, every time.Duration, logger *slog.Logger) *DriftPanel {
	if every <= 0 {
		every = DefaultDriftEvery
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &DriftPanel{check: check, every: every, now: time.Now, logger: logger}
}

// Run computes the panel now and then every interval until ctx ends.
func (p *DriftPanel) Run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		p.Update(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Update computes the panel once (bounded by the interval).
func (p *DriftPanel) Update(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.every)
	defer cancel()
	start := p.now()
	rep, err := p.check(ctx)
	var section template.HTML
	if err == nil {
		about := append(rep.About(), "Computed at "+start.UTC().Format("2006-01-02 15:04:05")+" UTC in "+
			p.now().Sub(start).Round(time.Millisecond).String()+", every "+p.every.String()+" (the page shows the last computation).")
		section, err = drift.SectionHTML(rep.Result, about...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at = p.now()
	if err != nil {
		if ctx.Err() == nil || p.failure == "" {
			p.logger.Warn("drift panel not updated", "err", err, "every", p.every)
		}
		p.failure = err.Error()
		return
	}
	p.good, p.failure = section, ""
	p.logger.Info("drift panel updated", "version", rep.Target.Version, "rows", rep.Result.CurrentRows, "verdict", rep.Result.Verdict, "took", p.at.Sub(start).Round(time.Millisecond))
}

// HTML is the panel as the dashboard shows it.
func (p *DriftPanel) HTML() template.HTML {
	p.mu.Lock()
	good, failure, at := p.good, p.failure, p.at
	p.mu.Unlock()
	var buf strings.Builder
	if err := templates.ExecuteTemplate(&buf, "drift", map[string]any{
		"Section": good, "Failure": failure, "At": at.UTC().Format("2006-01-02 15:04:05"), "Done": !at.IsZero(), "Every": p.every.String(),
	}); err != nil {
		return template.HTML(template.HTMLEscapeString("drift panel: " + err.Error()))
	}
	return template.HTML(buf.String())
}
