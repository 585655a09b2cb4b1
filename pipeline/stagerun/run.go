package stagerun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the run-wide retry policy: the seed DAG's 3 retries, but 10
// seconds apart instead of its 5 minutes. Only failures that can pass on a
// second try are retried (see Retryable), and those seen here — a mirror or
// database briefly unreachable, a stage killed for memory — clear in
// seconds; 5 minutes made a broken run hang 15 minutes before it said why.
const (
	DefaultRetries    = 3
	DefaultRetryDelay = 10 * time.Second
)

// Options tune Plan and Run. The zero value runs without retries and
// discards stage output; DefaultOptions gives the CLI's defaults.
type Options struct {
	// Force runs every selected stage (the targets and their upstream
	// stages) even when up to date.
	Force bool
	// Retries is how many times a failed stage is retried, RetryDelay the
	// fixed wait between attempts. A stage's own retries / retry_delay in
	// the pipeline file override them.
	Retries    int
	RetryDelay time.Duration
	// Stdout and Stderr receive the stages' output, each line prefixed with
	// "[stage] ". Nil discards. Output also goes to runs/<id>/<stage>.log.
	Stdout, Stderr io.Writer
	// RunsDir holds the run records; default <root>/runs.
	RunsDir string
	// Executable is the datalab binary that stages' `datalab …` commands
	// run, whatever its own name: a directory holding a link named datalab
	// to it is put first on the stages' PATH, then its own directory; its
	// path is in DATALAB_BIN. Default os.Executable().
	Executable string
	// Version is the datalab version written into the run record.
	Version string
	// Logger receives progress lines; nil uses slog.Default().
	Logger *slog.Logger
	// Remote, when set, is object storage that stage dependencies and
	// outs are fetched from and pushed to, and run records uploaded to
	// (see Remote). Plan does not consult it.
	Remote Remote
	// Experiment names the experiment the run belongs to (datalab exp run);
	// it is written into the run record.
	Experiment string
	// Cache, when set, is the run cache: a stage that is not up to date
	// but whose key has a cache entry gets its outs restored from it by
	// hard links instead of running (StatusCached), and the outs of every
	// successful stage are stored in it. Force bypasses the lookup.
	Cache *Cache
	// OnStage, when set, is called with "running" when the runner starts
	// on a stage and with the stage's final status (StatusRan, …) when it
	// is done, from the goroutine calling Run.
	OnStage func(stage, status string)
}

// DefaultOptions returns the retry policy of the CLI (3 retries, 10 seconds
// apart) with stage output on os.Stdout / os.Stderr.
func DefaultOptions() Options {
	return Options{Retries: DefaultRetries, RetryDelay: DefaultRetryDelay, Stdout: os.Stdout, Stderr: os.Stderr}
}

// ErrStageFailed is wrapped by Run's error when a stage failed.
var ErrStageFailed = errors.New("stage failed")

// ErrCannotStart is wrapped by Run's error, beside ErrStageFailed, when a
// stage's command could not start: the shell exited 127 (command not found)
// or 126 (found but not executable), or a tool the command needs is missing
// and it exited 127 to say so (datalab notebooks run without the kernel).
// Such a failure is never retried: a second try cannot find what is missing.
var ErrCannotStart = errors.New("command cannot start")

// Run brings the stages needed for targets (all stages when empty) up to
// date, in dependency order, skipping stages whose key and outputs match the
// lock file. Each stage's decision is made just before it would run, so a
// stage whose upstream re-ran but produced identical outputs is skipped.
//
// The run stops at the first stage that still fails after its retries. The
// lock file is rewritten after every successful stage; the run record is
// written at the end, also when the run failed or was cancelled, and is
// returned with the error.
func (p *Pipeline) Run(ctx context.Context, targets []string, opts Options) (*RunRecord, error) {
	sel, err := p.Select(targets)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	release, err := lockRoot(p.Root)
	if err != nil {
		return nil, err
	}
	defer release()
	lock, err := ReadLock(p.LockPath())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rec := &RunRecord{
		ID:             NewRunID(start),
		Pipeline:       p.Path,
		Targets:        targets,
		Force:          opts.Force,
		Start:          start,
		Git:            GitStateOf(p.Root),
		GoVersion:      runtime.Version(),
		DatalabVersion: opts.Version,
		Datasets:       map[string]string{},
		Params:         p.FlatParams(),
		Overrides:      p.Overrides,
		Experiment:     opts.Experiment,
	}
	setJSON, err := OverridesJSON(p.Overrides)
	if err != nil {
		return nil, err
	}
	if opts.Remote != nil {
		rec.Remote = opts.Remote.String()
	}
	runsDir := opts.RunsDir
	if runsDir == "" {
		runsDir = filepath.Join(p.Root, "runs")
	}
	runDir := filepath.Join(runsDir, rec.ID)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	r := &runner{p: p, opts: opts, log: log.With("run", rec.ID), rec: rec, lock: lock, runDir: runDir, h: newHasher(p.Root), setJSON: setJSON}
	r.exe = opts.Executable
	if r.exe == "" {
		r.exe, _ = os.Executable()
	}
	if r.exe != "" {
		binDir, cleanup, err := datalabOnPath(r.exe)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		r.binDir = binDir
	}
	runErr := r.runAll(ctx, sel)
	if err := r.h.save(); err != nil {
		r.log.Warn("hash state not saved; the next run hashes every file again", "err", err)
	}

	rec.Metrics = p.collectMetrics(r.log, r.h)
	rec.End = time.Now()
	rec.DurationSec = rec.End.Sub(rec.Start).Seconds()
	switch {
	case runErr == nil:
		rec.Status = "ok"
	case ctx.Err() != nil:
		rec.Status = "cancelled"
		rec.Error = runErr.Error()
	default:
		rec.Status = "failed"
		rec.Error = runErr.Error()
	}
	if err := rec.write(filepath.Join(runDir, "run.json")); err != nil {
		return rec, errors.Join(runErr, fmt.Errorf("write run record: %w", err))
	}
	if opts.Remote != nil {
		if err := r.pushRun(ctx); err != nil {
			r.log.Error("run record not pushed", "err", err)
			runErr = errors.Join(runErr, err)
		}
	}
	return rec, runErr
}

// runner carries the state of one Run.
type runner struct {
	p      *Pipeline
	opts   Options
	log    *slog.Logger
	rec    *RunRecord
	lock   *Lock
	runDir string
	h      *hasher
	// exe is the binary stages' `datalab` runs; binDir, first on their
	// PATH, holds the link named datalab to it.
	exe, binDir string
	// setJSON is the overrides as $DATALAB_SET ("" for none).
	setJSON string
}

func (r *runner) runAll(ctx context.Context, sel []*Stage) error {
	notify := func(stage, status string) {
		if r.opts.OnStage != nil {
			r.opts.OnStage(stage, status)
		}
	}
	for i, s := range sel {
		notify(s.Name, "running")
		sr, err := r.stage(ctx, s)
		r.rec.Stages = append(r.rec.Stages, sr)
		notify(s.Name, sr.Status)
		if err != nil {
			for _, rest := range sel[i+1:] {
				r.rec.Stages = append(r.rec.Stages, StageRecord{Name: rest.Name, Status: StatusNotRun})
				notify(rest.Name, StatusNotRun)
			}
			return err
		}
	}
	return nil
}

// stage brings s up to date and returns its record: plan decides whether
// it must run (fetching missing dependencies and outs from the remote),
// then its outs are restored from the run cache, found up to date, or made
// by running its command with retries and recorded in the lock file and
// the run cache; last, with a remote, they are pushed to it.
func (r *runner) stage(ctx context.Context, s *Stage) (StageRecord, error) {
	sr := StageRecord{Name: s.Name, Start: time.Now()}
	if err := ctx.Err(); err != nil {
		sr.finish(StatusNotRun)
		return sr, err
	}
	st, prev, err := r.plan(ctx, s, &sr)
	if err != nil {
		sr.finish(StatusFailed)
		return sr, err
	}
	switch {
	case len(sr.Reasons) > 0 && r.fromCache(s, st, &sr):
		sr.finish(StatusCached)
		r.log.Info("stage restored from the run cache", "stage", s.Name, "why", strings.Join(sr.Reasons, "; "), "key", st.key[:12])
	case len(sr.Reasons) == 0:
		r.upToDate(s, st, prev, &sr)
	default:
		if err := r.execute(ctx, s, st, &sr); err != nil {
			return sr, err
		}
		if err := r.recordOuts(s, st, &sr); err != nil {
			return sr, err
		}
	}
	if r.opts.Remote != nil {
		return sr, r.pushStage(ctx, s, st, &sr)
	}
	return sr, nil
}

// finish sets the record's final status and its end time and duration.
func (sr *StageRecord) finish(status string) {
	sr.Status = status
	sr.End = time.Now()
	sr.DurationSec = sr.End.Sub(sr.Start).Seconds()
}

// plan hashes s's dependencies, fetching those missing here from the
// remote first, and decides whether s must run: it sets sr.Key and
// sr.Reasons (none when up to date) and returns the stage's state and its
// lock entry from the previous run (nil when it has none). An error is
// also in sr.Errors.
func (r *runner) plan(ctx context.Context, s *Stage, sr *StageRecord) (stageState, *LockStage, error) {
	if r.opts.Remote != nil {
		fetched, err := r.fetchMissing(ctx, s, s.Deps, "dependency")
		sr.Fetched = fetched
		if err != nil {
			sr.Errors = []string{err.Error()}
			return stageState{}, nil, err
		}
	}
	st, err := r.p.state(s, r.h)
	if err != nil {
		if errors.Is(err, errMissingDep) {
			err = fmt.Errorf("%w (add the stage producing it, or create the file)", err)
		}
		sr.Errors = []string{err.Error()}
		return stageState{}, nil, fmt.Errorf("%w: %w", ErrStageFailed, err)
	}
	sr.Key = st.key
	for _, d := range st.deps {
		if d.Path == "data" || strings.HasPrefix(d.Path, "data/") {
			r.rec.Datasets[d.Path] = d.SHA256
		}
	}
	prev := r.lock.Stages[s.Name]
	if r.opts.Force {
		sr.Reasons = []string{"forced"}
	} else {
		sr.Reasons = r.p.reasons(s, st, prev, r.h)
	}
	if err := r.fetchOuts(ctx, s, st, prev, sr); err != nil {
		sr.Errors = []string{err.Error()}
		return stageState{}, nil, err
	}
	return st, prev, nil
}

// fetchOuts handles a stage up to date by its key but with outs missing
// here: another machine (or a cleaned build/) produced them, so they are
// fetched from the remote instead of recomputed, and sr.Reasons decided
// again with them in place.
func (r *runner) fetchOuts(ctx context.Context, s *Stage, st stageState, prev *LockStage, sr *StageRecord) error {
	if len(sr.Reasons) == 0 || r.opts.Remote == nil || r.opts.Force || prev == nil || prev.Key != st.key {
		return nil
	}
	fetched, err := r.fetchMissing(ctx, s, s.Outs, "out")
	sr.Fetched = append(sr.Fetched, fetched...)
	if err != nil {
		return err
	}
	if len(fetched) > 0 {
		sr.Reasons = r.p.reasons(s, st, prev, r.h)
		if len(sr.Reasons) > 0 {
			r.log.Warn("outs fetched from the remote differ from the lock; running the stage", "stage", s.Name, "why", strings.Join(sr.Reasons, "; "))
		}
	}
	return nil
}

// fromCache restores the stage's outs from the run cache when it has an
// entry for the stage's current key whose objects are intact, and makes
// the lock say so. It reports whether it did.
func (r *runner) fromCache(s *Stage, st stageState, sr *StageRecord) bool {
	c := r.opts.Cache
	if c == nil || r.opts.Force || !c.Has(st.key) {
		return false
	}
	e, err := c.Entry(st.key)
	if err == nil {
		err = c.check(e, s.Outs)
	}
	if err == nil {
		err = c.restore(r.p.Root, e, r.log)
	}
	r.h.forget()
	if err == nil {
		// The restored outs must hash to what was stored.
		var outs []LockPath
		if outs, err = r.hashOuts(s); err == nil {
			for i, o := range outs {
				if o.SHA256 != e.Outs[i].SHA256 {
					err = fmt.Errorf("restored %s hashes to %s, the cache entry says %s", o.Path, o.SHA256[:12], e.Outs[i].SHA256[:12])
					break
				}
			}
			sr.Outs = outs
		}
	}
	if err != nil {
		r.log.Warn("run cache entry not usable; running the stage", "stage", s.Name, "key", st.key[:12], "why", err)
		return false
	}
	if err := r.writeLock(s, st, sr.Outs); err != nil {
		r.log.Warn("outs restored from the run cache but the lock file could not be written; running the stage", "stage", s.Name, "err", err)
		return false
	}
	return true
}

// upToDate records a stage whose key and outs match the lock: its outs are
// the lock's, and they are stored in the run cache when it lacks them.
func (r *runner) upToDate(s *Stage, st stageState, prev *LockStage, sr *StageRecord) {
	sr.Outs = prev.Outs
	r.toCache(s, st.key, prev.Outs)
	sr.finish(StatusSkipped)
	if len(sr.Fetched) > 0 {
		r.log.Info("stage up to date; outs fetched from remote", "stage", s.Name, "fetched", strings.Join(sr.Fetched, ", "))
	} else {
		r.log.Info("stage up to date", "stage", s.Name)
	}
}

// execute runs s's command with its retry policy, the output of every
// attempt in runs/<id>/<stage>.log, and finishes sr as ran or failed. On
// success sr.Outs holds the hashes of the outs; the error is the one Run
// reports.
func (r *runner) execute(ctx context.Context, s *Stage, st stageState, sr *StageRecord) error {
	r.log.Info("running stage", "stage", s.Name, "why", strings.Join(sr.Reasons, "; "))
	retries, delay := r.retryPolicy(s)
	if r.opts.Cache != nil {
		// Outs may be hard links into the run cache: the command must not
		// write through them.
		if err := unlinkOuts(r.p.Root, s.Outs); err != nil {
			sr.finish(StatusFailed)
			return fmt.Errorf("%w: %s: %w", ErrStageFailed, s.Name, err)
		}
	}
	logPath := filepath.Join(r.runDir, s.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		sr.finish(StatusFailed)
		return fmt.Errorf("%w: %s: create log: %w", ErrStageFailed, s.Name, err)
	}
	defer logFile.Close()
	sr.Log, _ = filepath.Rel(r.p.Root, logPath)

	runErr := r.attempts(ctx, s, st.cmd, retries, delay, logFile, sr)
	r.h.forget()
	if runErr != nil {
		sr.finish(StatusFailed)
		r.log.Error("stage failed", "stage", s.Name, "attempts", len(sr.Attempts), "err", runErr, "log", sr.Log)
		if ctx.Err() != nil {
			return fmt.Errorf("stage %s: %w", s.Name, ctx.Err())
		}
		if errors.Is(runErr, ErrCannotStart) {
			return fmt.Errorf("%w: %s: %w (not retried; log: %s)", ErrStageFailed, s.Name, runErr, sr.Log)
		}
		return fmt.Errorf("%w: %s after %d attempt(s): %w (log: %s)", ErrStageFailed, s.Name, len(sr.Attempts), runErr, sr.Log)
	}
	sr.finish(StatusRan)
	r.log.Info("stage done", "stage", s.Name, "attempts", len(sr.Attempts), "duration", time.Duration(sr.DurationSec*float64(time.Second)).Round(time.Millisecond))
	return nil
}

// retryPolicy is how many times s is retried and the wait between
// attempts: the run's Options unless the stage sets its own.
func (r *runner) retryPolicy(s *Stage) (retries int, delay time.Duration) {
	retries, delay = r.opts.Retries, r.opts.RetryDelay
	if s.Retries != nil {
		retries = *s.Retries
	}
	if s.RetryDelay != nil {
		delay = *s.RetryDelay
	}
	return retries, delay
}

// attempts runs command until an attempt succeeds with all of s's outs,
// fails in a way a retry cannot fix, has used up the retries, or ctx ends,
// waiting delay between attempts. Every attempt goes into sr.Attempts and
// every failure into sr.Errors and the log file; on success sr.Outs holds
// the outs' hashes. It returns the last attempt's error.
func (r *runner) attempts(ctx context.Context, s *Stage, command string, retries int, delay time.Duration, logFile io.Writer, sr *StageRecord) error {
	for n := 1; ; n++ {
		a := Attempt{N: n, Start: time.Now()}
		outs, outsOK, err := r.attempt(ctx, s, command, n, logFile)
		a.End = time.Now()
		a.DurationSec = a.End.Sub(a.Start).Seconds()
		if err == nil {
			sr.Attempts = append(sr.Attempts, a)
			sr.Outs = outs
			return nil
		}
		a.Error = err.Error()
		sr.Attempts = append(sr.Attempts, a)
		sr.Errors = append(sr.Errors, fmt.Sprintf("attempt %d: %s", n, a.Error))
		fmt.Fprintf(logFile, "### attempt %d failed: %s\n", n, a.Error)
		if ctx.Err() != nil || !outsOK || !Retryable(err) || n > retries {
			return err
		}
		r.log.Warn("stage attempt failed; will retry", "stage", s.Name, "attempt", n, "of", retries+1, "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			return err
		}
	}
}

// attempt runs command once and, when it exits 0, hashes s's outs. outsOK
// is false when the command exited 0 without its outs: that stage has a
// bug, and retrying the same command cannot fix it (nor one that cannot
// start: see Retryable).
func (r *runner) attempt(ctx context.Context, s *Stage, command string, n int, logFile io.Writer) (outs []LockPath, outsOK bool, err error) {
	if err := r.exec(ctx, s, command, n, logFile); err != nil {
		return nil, true, err
	}
	r.h.forget()
	outs, err = r.hashOuts(s)
	return outs, err == nil, err
}

// recordOuts writes the lock entry of a stage that ran and stores its
// outs in the run cache.
func (r *runner) recordOuts(s *Stage, st stageState, sr *StageRecord) error {
	if err := r.writeLock(s, st, sr.Outs); err != nil {
		return fmt.Errorf("stage %s ran but the lock file could not be written: %w", s.Name, err)
	}
	r.toCache(s, st.key, sr.Outs)
	return nil
}

// writeLock sets s's lock entry to its state and outs, drops entries of
// stages no longer in the pipeline and writes the lock file. The entry
// holds only content hashes: the run id, attempts and errors are in the
// run record, so a stage re-run with identical results (a fresh clone
// builds every out again) leaves the committed lock byte-identical.
func (r *runner) writeLock(s *Stage, st stageState, outs []LockPath) error {
	r.lock.Stages[s.Name] = &LockStage{
		Key: st.key, Cmd: st.cmd, Deps: st.deps, Code: st.code, Params: st.params, Outs: outs,
	}
	r.pruneLock()
	return r.lock.Write(r.p.LockPath())
}

// toCache stores a stage's outs in the run cache (no-op without one, or
// when the key is stored already). A failure is logged, never fatal: the
// cache only saves work.
func (r *runner) toCache(s *Stage, key string, outs []LockPath) {
	c := r.opts.Cache
	if c == nil || c.Has(key) {
		return
	}
	if err := c.store(r.p.Root, s.Name, key, outs, r.h, r.log); err != nil {
		r.log.Warn("outs not stored in the run cache", "stage", s.Name, "err", err)
	}
}

// pruneLock drops entries of stages no longer in the pipeline.
func (r *runner) pruneLock() {
	for name := range r.lock.Stages {
		if r.p.Stage(name) == nil {
			delete(r.lock.Stages, name)
		}
	}
}

func (r *runner) hashOuts(s *Stage) ([]LockPath, error) {
	var outs []LockPath
	for _, o := range s.Outs {
		d, err := r.h.hash(o)
		if err != nil {
			return nil, fmt.Errorf("command succeeded but did not produce out %s: %w", o, err)
		}
		outs = append(outs, LockPath{Path: o, SHA256: d.SHA256, Size: d.Size})
	}
	return outs, nil
}

// exec runs one attempt of the command with /bin/sh -c in the root.
func (r *runner) exec(ctx context.Context, s *Stage, command string, attempt int, logFile io.Writer) error {
	fmt.Fprintf(logFile, "### attempt %d at %s: %s\n", attempt, time.Now().UTC().Format(time.RFC3339), command)
	logW := &lockedWriter{w: logFile}
	term := &sync.Mutex{} // Stdout and Stderr may be the same writer
	stdout := newPrefixWriter(r.opts.Stdout, s.Name, term)
	stderr := newPrefixWriter(r.opts.Stderr, s.Name, term)
	tail := &tailBuffer{max: 512}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir = r.p.Root
	cmd.Env = r.env(s, attempt)
	cmd.Stdout = io.MultiWriter(stdout, logW)
	cmd.Stderr = io.MultiWriter(stderr, logW, tail)
	killGroupOnCancel(cmd)
	err := cmd.Run()
	stdout.Flush()
	stderr.Flush()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("cancelled: %w", ctx.Err())
	}
	if last := tail.lastLine(); last != "" {
		err = fmt.Errorf("%w: %s", err, last)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && (ee.ExitCode() == exitNotFound || ee.ExitCode() == exitNotExecutable):
		return fmt.Errorf("%w: %w (a command or tool it needs is missing or not executable: install it — "+
			"`make run` builds .bin/datalab and installs the notebook kernel, `bash .ci/setup notebooks` the kernel alone)", ErrCannotStart, err)
	case !errors.As(err, &ee):
		// /bin/sh itself did not start.
		return fmt.Errorf("%w: %w (`make run` needs a POSIX /bin/sh)", ErrCannotStart, err)
	}
	return err
}

// Exit statuses of a POSIX shell whose command could not start.
const (
	exitNotExecutable = 126
	exitNotFound      = 127
)

// Retryable reports whether a failed attempt can pass on a second try: a
// command that ran and failed (non-zero exit, killed by a signal — a mirror
// that timed out, a database restarting, the OOM killer) is retried; one
// that could not start (ErrCannotStart: exit 127 or 126, no shell) is not,
// nor a cancelled run. A stage that exited 0 without its outs is not
// retried either (Run checks that itself).
func Retryable(err error) bool {
	return err != nil && !errors.Is(err, ErrCannotStart) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// env is the process environment plus datalab on PATH and DATALAB_* facts
// about the run, so stages call the same binary that runs them.
func (r *runner) env(s *Stage, attempt int) []string {
	exe := r.exe
	var env []string
	path := os.Getenv("PATH")
	for _, kv := range os.Environ() {
		// DATALAB_SET is the run's own overrides, never an inherited value.
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, SetEnv+"=") {
			env = append(env, kv)
		}
	}
	if exe != "" {
		path = filepath.Dir(exe) + string(os.PathListSeparator) + path
		env = append(env, "DATALAB_BIN="+exe)
	}
	if r.binDir != "" {
		path = r.binDir + string(os.PathListSeparator) + path
	}
	if r.setJSON != "" {
		env = append(env, SetEnv+"="+r.setJSON)
	}
	return append(env, "PATH="+path,
		"DATALAB_RUN_ID="+r.rec.ID,
		"DATALAB_STAGE="+s.Name,
		"DATALAB_ATTEMPT="+strconv.Itoa(attempt))
}

// lockedWriter serialises the stdout and stderr copies into one log file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter writes whole lines to w, each prefixed with "[stage] ".
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix []byte
	buf    []byte
}

func newPrefixWriter(w io.Writer, stage string, mu *sync.Mutex) *prefixWriter {
	if w == nil {
		w = io.Discard
	}
	return &prefixWriter{mu: mu, w: w, prefix: []byte("[" + stage + "] ")}
}

// Write never fails: the terminal going away must not fail the stage.
func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) emit(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w.Write(append(append([]byte{}, p.prefix...), line...))
}

// Flush writes an unterminated last line.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		p.emit(append(p.buf, '\n'))
		p.buf = nil
	}
}

// tailBuffer keeps the last max bytes written, to quote a failing
// command's last error line.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	lines := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
