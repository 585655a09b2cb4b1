package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/datalabhq/datalab/pipeline/report"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// RunOptions are what `datalab exp run` was asked for.
type RunOptions struct {
	// Targets are the stages to run with their upstream stages (all when
	// empty).
	Targets []string
	// Sets are key=value overrides applied to every experiment; Sweeps are
	// key=a,b,c lists whose product makes the grid (see Grid).
	Sets, Sweeps []string
	// Name names the experiments (see Names); empty derives names from the
	// overrides.
	Name string
	// Force replaces an experiment of the same name that is done.
	Force bool
	// Jobs is how many experiments run at once; 0 means runtime.NumCPU().
	Jobs int
	// Stage is the run options every experiment starts from: retries,
	// executable, version. Its Stdout/Stderr, RunsDir, Cache, Experiment and
	// OnStage are set per experiment.
	Stage stagerun.Options
	// Progress receives one line per experiment (Terminal: redrawn in
	// place) or one line per change; nil shows nothing.
	Progress io.Writer
	Terminal bool
	// Logger receives what the scheduler does; nil is slog.Default().
	Logger *slog.Logger
}

// Run runs the grid of experiments opts describes, each in its own
// workspace, up to opts.Jobs at a time, and returns their records in grid
// order. Every override is checked against the pipeline before any
// workspace is made. One experiment failing does not stop the others; the
// error then names the failed ones. Cancelling ctx stops the running
// stages (their process groups) and leaves every unfinished experiment
// cancelled.
func (l *Lab) Run(ctx context.Context, opts RunOptions) ([]*Record, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	points, err := Grid(opts.Sets, opts.Sweeps)
	if err != nil {
		return nil, err
	}
	main, err := stagerun.Load(l.PipelinePath())
	if err != nil {
		return nil, err
	}
	if _, err := main.Select(opts.Targets); err != nil {
		return nil, err
	}
	for _, p := range points {
		check, err := stagerun.Load(l.PipelinePath())
		if err != nil {
			return nil, err
		}
		if err := check.Override(p.Overrides); err != nil {
			return nil, err
		}
	}
	existing := map[string]*Record{}
	recs, err := l.List()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		existing[r.Name] = r
	}
	names, err := Names(points, opts.Name, func(n string) bool {
		_, ok := existing[n]
		return ok
	})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := reusable(existing[n], opts.Force); err != nil {
			return nil, err
		}
	}
	cache, err := stagerun.OpenCache(l.CacheDir())
	if err != nil {
		return nil, err
	}
	lock, err := stagerun.ReadLock(l.LockPath())
	if err != nil {
		return nil, err
	}

	exps := make([]*Record, len(points))
	for i, p := range points {
		exps[i] = &Record{Name: names[i], Overrides: p.Overrides, Targets: opts.Targets, Status: StatusQueued}
		if err := l.createWorkspace(exps[i], uncachedOuts(lock, cache), log); err != nil {
			return nil, err
		}
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	log.Info("running experiments", "count", len(exps), "jobs", jobs, "workspaces", l.ExpsDir())
	b := newBoard(opts.Progress, opts.Terminal, names)
	s := &scheduler{lab: l, opts: opts, cache: cache, board: b, log: log}
	var g errgroup.Group
	g.SetLimit(jobs)
	for _, rec := range exps {
		g.Go(func() error {
			s.run(ctx, rec)
			return nil
		})
	}
	g.Wait()

	var failed []string
	for _, rec := range exps {
		if rec.Status != StatusDone {
			failed = append(failed, fmt.Sprintf("%s %s (log: %s)", rec.Name, rec.Status, filepath.Join(l.Dir(rec.Name), LogFile)))
		}
	}
	switch {
	case ctx.Err() != nil:
		return exps, fmt.Errorf("experiments cancelled: %w", ctx.Err())
	case len(failed) > 0:
		return exps, fmt.Errorf("%d of %d experiments did not finish: %v", len(failed), len(exps), failed)
	}
	return exps, nil
}

// uncachedOuts lists the outs of the workspace's lock entries whose key
// the cache does not hold (a build/ made before the cache existed, or with
// --no-cache). They are linked into each new workspace as they are: a
// stage whose outs still match the lock is then up to date there and its
// run stores them in the cache; one whose outs do not is run (stagerun
// unlinks outs before a stage writes them, so the workspace's files are
// never written through a link).
func uncachedOuts(lock *stagerun.Lock, cache *stagerun.Cache) []string {
	var outs []string
	for _, e := range lock.Stages {
		if cache.Has(e.Key) {
			continue
		}
		for _, o := range e.Outs {
			outs = append(outs, o.Path)
		}
	}
	return outs
}

// reusable says whether an experiment's name may be taken again: a done
// experiment only with force; a queued or running one only with force too
// (it may be running in another process: its workspace would be pulled
// away).
func reusable(prev *Record, force bool) error {
	if prev == nil || force {
		return nil
	}
	switch prev.Status {
	case StatusDone:
		return fmt.Errorf("experiment %s is done already: pick another --name, or pass --force to run it again (datalab exp remove %s deletes it)", prev.Name, prev.Name)
	case StatusQueued, StatusRunning:
		return fmt.Errorf("experiment %s is recorded as %s: if no datalab exp run is running it any more, pass --force to run it again", prev.Name, prev.Status)
	}
	return nil
}

// scheduler runs experiments; run is called from several goroutines.
type scheduler struct {
	lab   *Lab
	opts  RunOptions
	cache *stagerun.Cache
	board *board
	log   *slog.Logger
	// siteMu serialises the additions to the workspace's report site.
	siteMu sync.Mutex
}

// run runs one experiment to an end state and records it. Errors end up
// in the record (and its log), not returned: one experiment failing does
// not stop the others.
func (s *scheduler) run(ctx context.Context, rec *Record) {
	l := s.lab
	var recMu sync.Mutex // OnStage may be called while the record is written
	save := func() {
		recMu.Lock()
		defer recMu.Unlock()
		if err := l.writeRecord(rec); err != nil {
			s.log.Error("experiment record not written", "experiment", rec.Name, "err", err)
		}
	}
	fail := func(status string, err error) {
		rec.Status, rec.Error, rec.End = status, err.Error(), time.Now()
		save()
		s.board.experiment(rec.Name, status)
	}
	if err := ctx.Err(); err != nil {
		fail(StatusCancelled, err)
		return
	}
	dir := l.Dir(rec.Name)
	logFile, err := os.Create(filepath.Join(dir, LogFile))
	if err != nil {
		fail(StatusFailed, fmt.Errorf("create log: %w", err))
		return
	}
	defer logFile.Close()
	rec.Status, rec.Start = StatusRunning, time.Now()
	rec.Stages = map[string]string{}
	save()
	s.board.experiment(rec.Name, StatusRunning)

	p, err := stagerun.Load(filepath.Join(dir, l.Pipeline))
	if err == nil {
		err = p.Override(rec.Overrides)
	}
	if err != nil {
		fmt.Fprintln(logFile, err)
		fail(StatusFailed, err)
		return
	}
	// Stage output arrives in whole lines and log records in whole records;
	// an *os.File takes concurrent writes.
	out := logFile
	opts := s.opts.Stage
	opts.Stdout, opts.Stderr = out, out
	opts.Logger = slog.New(slog.NewTextHandler(out, nil)).With("experiment", rec.Name)
	opts.RunsDir = l.RunsDir()
	opts.Cache = s.cache
	opts.Experiment = rec.Name
	opts.OnStage = func(stage, status string) {
		recMu.Lock()
		rec.Stages[stage] = status
		recMu.Unlock()
		save()
		s.board.stage(rec.Name, stage, status)
	}
	run, runErr := p.Run(ctx, rec.Targets, opts)
	if run != nil {
		rec.RunID = run.ID
		rec.Metrics = run.Metrics
	}
	switch {
	case runErr == nil && run != nil && run.Status == "ok":
		if err := s.publishReports(rec.Name, run); err != nil {
			// The run is done; only the site misses its pages.
			s.log.Warn("experiment reports not added to the site", "experiment", rec.Name, "err", err)
			fmt.Fprintf(out, "reports not added to %s: %v\n", l.ReportsDir(), err)
		}
		rec.Status, rec.End = StatusDone, time.Now()
		save()
		s.board.experiment(rec.Name, StatusDone)
	case ctx.Err() != nil:
		fail(StatusCancelled, errors.Join(runErr, ctx.Err()))
	default:
		if runErr == nil {
			runErr = fmt.Errorf("run ended %s", run.Status)
		}
		fmt.Fprintln(out, runErr)
		fail(StatusFailed, runErr)
	}
}

// publishReports adds the experiment run's reports (reports/runs/<run-id>/
// in its workspace) to the workspace's report site by hard links, with the
// run record (report.PublishRun, as datalab run does), which rebuilds the
// site index so it lists every run.
func (s *scheduler) publishReports(name string, run *stagerun.RunRecord) error {
	runID := run.ID
	src := filepath.Join(s.lab.Dir(name), "reports", "runs", runID)
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return nil // the targets wrote no report
	}
	site := s.lab.ReportsDir()
	dst := filepath.Join(site, "runs", runID)
	s.siteMu.Lock()
	defer s.siteMu.Unlock()
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := mirror(src, dst, nil, s.log); err != nil {
		return err
	}
	return report.PublishRun(site, run)
}
