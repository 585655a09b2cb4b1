package sparkjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Runner trains a Job on a Spark somewhere and leaves the PipelineModel in
// job.ModelDir, which it returns.
type Runner interface {
	Submit(ctx context.Context, job Job) (modelDir string, err error)
}

// DefaultMaster is the Spark master of LocalRunner: every core of this
// machine (or container).
const DefaultMaster = "local[*]"

// LocalRunner runs the job with spark-submit on this machine — a Spark
// installation, or the apache/spark container (where SPARK_HOME is
// /opt/spark) — reading the ingested Parquet from the local file system.
type LocalRunner struct {
	// SparkSubmit is the spark-submit executable; empty means spark-submit
	// on PATH, else $SPARK_HOME/bin/spark-submit.
	SparkSubmit string
	// Master is passed as --master; empty means DefaultMaster.
	Master string
	// SubmitArgs go to spark-submit before the job file (e.g.
	// --driver-memory 4g).
	SubmitArgs []string
	// Stdout and Stderr receive spark-submit's output; nil means os.Stderr
	// (stdout is the CLI's result channel, Spark's chatter is not a result).
	Stdout, Stderr io.Writer
	// StopGrace is how long spark-submit gets after SIGTERM when the
	// context is cancelled before it is killed; zero means 30s.
	StopGrace time.Duration
}

var _ Runner = (*LocalRunner)(nil)

// FindSparkSubmit returns the spark-submit to run: explicit if set, else
// spark-submit on PATH, else $SPARK_HOME/bin/spark-submit.
func FindSparkSubmit(explicit string) (string, error) {
	if explicit != "" {
		return exec.LookPath(explicit)
	}
	if p, err := exec.LookPath("spark-submit"); err == nil {
		return p, nil
	}
	if home := os.Getenv("SPARK_HOME"); home != "" {
		p := filepath.Join(home, "bin", "spark-submit")
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("SPARK_HOME=%s has no executable bin/spark-submit", home)
	}
	return "", errors.New("spark-submit not found on PATH and SPARK_HOME is not set: install Spark 3.5 with PySpark, " +
		"set SPARK_HOME, or train in the apache/spark container (docs/spark-training.md)")
}

// Submit writes the embedded job to a temporary directory, runs
// `spark-submit --master <master> <job> <args>` with the model going to a
// staging directory beside job.ModelDir, and installs it (Install). A
// cancelled context stops spark-submit (SIGTERM, then SIGKILL after
// StopGrace) and leaves job.ModelDir untouched.
func (r *LocalRunner) Submit(ctx context.Context, job Job) (string, error) {
	if err := job.Validate(); err != nil {
		return "", err
	}
	submit, err := FindSparkSubmit(r.SparkSubmit)
	if err != nil {
		return "", err
	}
	data, err := filepath.Abs(job.Variant.Data)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(data); err != nil {
		return "", fmt.Errorf("variant %s: %w (run `datalab run ingest-…` or `datalab ingest` first)", job.Variant.Name, err)
	}
	jobDir, err := os.MkdirTemp("", "datalab-sparkjob-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(jobDir)
	jobFile := filepath.Join(jobDir, JobFileName)
	if err := os.WriteFile(jobFile, jobSource, 0o644); err != nil {
		return "", err
	}
	staging, err := StagingDir(job.ModelDir)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging)
	out, err := filepath.Abs(filepath.Join(staging, "model"))
	if err != nil {
		return "", err
	}

	master := r.Master
	if master == "" {
		master = DefaultMaster
	}
	argv := append([]string{"--master", master}, r.SubmitArgs...)
	argv = append(argv, jobFile)
	argv = append(argv, job.Args(data, out)...)
	cmd := exec.CommandContext(ctx, submit, argv...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = r.StopGrace
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 30 * time.Second
	}
	stdout, stderr := r.Stdout, r.Stderr
	if stdout == nil {
		stdout = os.Stderr
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	var last lastJSONLine
	cmd.Stdout = io.MultiWriter(stdout, &last)
	cmd.Stderr = stderr
	slog.Info("spark-submit", "variant", job.Variant.Name, "spark_submit", submit, "master", master, "output", out)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("variant %s: spark-submit stopped: %w", job.Variant.Name, ctx.Err())
		}
		return "", fmt.Errorf("variant %s: spark-submit: %w (its output is above)", job.Variant.Name, err)
	}
	if m := last.metrics(); m != nil {
		slog.Info("spark held-out metrics (Spark's own split)", append([]any{"variant", job.Variant.Name}, m...)...)
	}
	p, err := Install(out, job)
	if err != nil {
		return "", fmt.Errorf("variant %s: %w", job.Variant.Name, err)
	}
	slog.Info("trained flight model on Spark", "variant", job.Variant.Name, "dir", job.ModelDir,
		"trees", len(p.Model.Trees), "nodes", p.Model.NumNodes(), "sec", time.Since(start).Seconds())
	return job.ModelDir, nil
}

// lastJSONLine remembers the last line of its input that is a JSON object:
// the job's metrics line.
type lastJSONLine struct {
	partial []byte
	line    []byte
}

func (l *lastJSONLine) Write(b []byte) (int, error) {
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if ln := bytes.TrimSpace(l.partial[:i]); bytes.HasPrefix(ln, []byte("{")) {
			l.line = append(l.line[:0], ln...)
		}
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

// metrics returns the metrics line as slog key-value pairs, nil if there
// is none.
func (l *lastJSONLine) metrics() []any {
	var m map[string]any
	if len(l.line) == 0 || json.Unmarshal(l.line, &m) != nil {
		return nil
	}
	var kv []any
	for _, k := range []string{"train_rows", "test_rows", "accuracy", "weightedPrecision", "weightedRecall", "f1"} {
		if v, ok := m[k]; ok {
			kv = append(kv, k, v)
		}
	}
	return kv
}
