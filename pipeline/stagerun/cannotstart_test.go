package stagerun

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStagesRunTheRunningBinaryWhateverItsName is issue 12 finding 11: a
// datalab built under another name (go build -o dl) must still be what a
// stage's `datalab …` runs, not whatever (if anything) is called datalab on
// PATH.
func TestStagesRunTheRunningBinaryWhateverItsName(t *testing.T) {
	p := writePipeline(t, `
stages:
  hello:
    cmd: datalab greet world > out.txt
    outs: [out.txt]
`)
	// The "binary" is a script called dl in a directory of its own: only
	// its own name is on PATH there.
	exe := filepath.Join(t.TempDir(), "dl")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho \"dl says $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.Executable = exe
	rec := mustRun(t, p, nil, opts)
	wantRan(t, rec, "hello")
	got, _ := os.ReadFile(filepath.Join(p.Root, "out.txt"))
	if string(got) != "dl says greet world\n" {
		t.Errorf("out.txt = %q, want the running binary's output", got)
	}
}

// TestCommandThatCannotStartIsNotRetried: exit 127 (command not found), 126
// (not executable) can never pass on a second try, so they fail at the
// first attempt with ErrCannotStart and a message saying what to do, however
// many retries the stage allows.
func TestCommandThatCannotStartIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name, cmd, want string
	}{
		{"missing command", "no-such-command-datalab-test --flag", "not found"},
		{"not executable", "./script.sh", "Permission denied"},
		{"exit 127 from a tool", "echo gonb kernel missing, run bash .ci/setup notebooks >&2; exit 127", "bash .ci/setup notebooks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writePipeline(t, `
stages:
  broken:
    cmd: `+tc.cmd+`
    outs: [x]
    retries: 5
    retry_delay: 1ms
`)
			os.WriteFile(filepath.Join(p.Root, "script.sh"), []byte("#!/bin/sh\ntouch x\n"), 0o644)
			var stderr bytes.Buffer
			opts := testOptions()
			opts.Stderr = &stderr
			rec, err := p.Run(context.Background(), nil, opts)
			if !errors.Is(err, ErrCannotStart) || !errors.Is(err, ErrStageFailed) {
				t.Fatalf("err = %v, want ErrCannotStart and ErrStageFailed", err)
			}
			if n := len(rec.Stage("broken").Attempts); n != 1 {
				t.Errorf("attempts = %d, want 1 (a command that cannot start is not retried)", n)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "make run") {
				t.Errorf("err = %v, want it to quote %q and say what to run", err, tc.want)
			}
		})
	}
}

// TestOrdinaryFailureIsStillRetried: a command that started and failed (a
// network pull, a busy database) may pass on a second try.
func TestOrdinaryFailureIsStillRetried(t *testing.T) {
	p := writePipeline(t, `
stages:
  broken:
    cmd: exit 1
    outs: [x]
    retries: 2
    retry_delay: 1ms
`)
	rec, err := p.Run(context.Background(), nil, testOptions())
	if err == nil || errors.Is(err, ErrCannotStart) {
		t.Fatalf("err = %v, want a retried stage failure", err)
	}
	if n := len(rec.Stage("broken").Attempts); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
}

// TestDefaultRetryDelayIsSeconds: the seed's 5-minute delay made a broken
// newcomer run hang 15 minutes.
func TestDefaultRetryDelayIsSeconds(t *testing.T) {
	if d := DefaultOptions().RetryDelay; d <= 0 || d >= time.Minute {
		t.Errorf("default retry delay %s, want a few seconds", d)
	}
}

// TestRerunWithIdenticalOutputsKeepsTheLockBytes is issue 12 finding 14: a
// clean clone re-runs every stage (its outs are not committed) and produces
// the same bytes; the committed lock must then stay byte-identical (run
// ids and attempts belong in runs/, not in the lock).
func TestRerunWithIdenticalOutputsKeepsTheLockBytes(t *testing.T) {
	p := exampleCopy(t)
	opts := testOptions()
	first := mustRun(t, p, nil, opts)
	lock1, err := os.ReadFile(p.LockPath())
	if err != nil {
		t.Fatal(err)
	}
	opts.Force = true
	second := mustRun(t, p, nil, opts)
	wantRan(t, second, "ingest", "features", "train", "evaluate")
	lock2, _ := os.ReadFile(p.LockPath())
	if !bytes.Equal(lock1, lock2) {
		t.Errorf("re-running with identical outputs changed the lock:\n%s\n---\n%s", lock1, lock2)
	}
	if bytes.Contains(lock2, []byte(first.ID)) || bytes.Contains(lock2, []byte(second.ID)) {
		t.Error("the lock names a run id")
	}
	// Which run produced the outs stays known: the run record has them.
	if s := second.Stage("train"); s == nil || len(s.Outs) == 0 || len(s.Attempts) != 1 {
		t.Errorf("run record of train = %+v", s)
	}
}

// TestProducers: the stages whose outs hold the given paths, for `datalab
// up`, which runs only what its services load.
func TestProducers(t *testing.T) {
	p := exampleCopy(t)
	got, err := p.Producers([]string{"work/model.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "train" {
		t.Errorf("producers = %v, want [train]", got)
	}
	if _, err := p.Producers([]string{"nowhere/x"}); err == nil || !strings.Contains(err.Error(), "nowhere/x") {
		t.Errorf("unknown path: err = %v", err)
	}
}
