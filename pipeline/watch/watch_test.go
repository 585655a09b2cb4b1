package watch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// recorder is a Trigger that remembers its calls.
type recorder struct {
	mu    sync.Mutex
	calls [][]Change
}

func (r *recorder) trigger(ctx context.Context, changes []Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, changes)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func keys(changes []Change) []string {
	var ks []string
	for _, c := range changes {
		ks = append(ks, c.Kind+" "+c.Key)
	}
	return ks
}

func newTestWatcher(t *testing.T, dir, state string, trigger Trigger, debounce time.Duration) *Watcher {
	t.Helper()
	url, err := BucketURL(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(context.Background(), url, trigger, Options{
		Interval: 10 * time.Millisecond, Debounce: debounce, StatePath: state,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func once(t *testing.T, w *Watcher) bool {
	t.Helper()
	fired, err := w.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fired
}

func TestNewUnchangedModified(t *testing.T) {
	raw := t.TempDir()
	state := filepath.Join(t.TempDir(), "watch-state.json")
	rec := &recorder{}
	w := newTestWatcher(t, raw, state, rec.trigger, -1)

	if once(t, w) {
		t.Fatal("empty bucket triggered")
	}
	testtree.WriteFile(t, filepath.Join(raw, "matches", "2022.csv"), "a,b\n")
	testtree.WriteFile(t, filepath.Join(raw, "notes.txt"), "not data")
	if !once(t, w) {
		t.Fatal("new file did not trigger")
	}
	if got := keys(rec.calls[0]); !slices.Equal(got, []string{"new matches/2022.csv"}) {
		t.Errorf("changes = %v", got)
	}
	if once(t, w) {
		t.Error("unchanged bucket triggered again")
	}
	// A restarted watcher reads the state file and stays quiet.
	w2 := newTestWatcher(t, raw, state, rec.trigger, -1)
	if once(t, w2) {
		t.Error("restart re-triggered")
	}
	testtree.WriteFile(t, filepath.Join(raw, "matches", "2022.csv"), "a,b\n1,2\n")
	testtree.WriteFile(t, filepath.Join(raw, "notes.txt"), "still not data, changed")
	if !once(t, w2) {
		t.Fatal("modified file did not trigger")
	}
	if got := keys(rec.calls[1]); !slices.Equal(got, []string{"modified matches/2022.csv"}) {
		t.Errorf("changes = %v", got)
	}
	if rec.count() != 2 {
		t.Errorf("trigger calls = %d, want 2", rec.count())
	}
	data, _ := os.ReadFile(state)
	if !strings.Contains(string(data), `"matches/2022.csv"`) || strings.Contains(string(data), "notes.txt") {
		t.Errorf("state file:\n%s", data)
	}
}

func TestBurstIsDebouncedIntoOneTrigger(t *testing.T) {
	raw := t.TempDir()
	rec := &recorder{}
	w := newTestWatcher(t, raw, filepath.Join(t.TempDir(), "s.json"), rec.trigger, 150*time.Millisecond)
	testtree.WriteFile(t, filepath.Join(raw, "a.csv"), "1")
	done := make(chan bool)
	go func() {
		fired, _ := w.Once(context.Background())
		done <- fired
	}()
	time.Sleep(30 * time.Millisecond)
	testtree.WriteFile(t, filepath.Join(raw, "b.jsonl"), "{}")
	if !<-done {
		t.Fatal("no trigger")
	}
	if rec.count() != 1 || !slices.Equal(keys(rec.calls[0]), []string{"new a.csv", "new b.jsonl"}) {
		t.Errorf("calls = %v", rec.calls)
	}
}

func TestRunPollsUntilCancelled(t *testing.T) {
	raw := t.TempDir()
	rec := &recorder{}
	w := newTestWatcher(t, raw, filepath.Join(t.TempDir(), "s.json"), rec.trigger, -1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- w.Run(ctx) }()
	// Renamed into place: with debouncing off, a half-written file would
	// count as new and then as modified.
	testtree.WriteFile(t, filepath.Join(raw, "x.parquet.part"), "PAR1")
	os.Rename(filepath.Join(raw, "x.parquet.part"), filepath.Join(raw, "x.parquet"))
	testwait.Poll(5*time.Second, 5*time.Millisecond, func() bool { return rec.count() != 0 })
	time.Sleep(50 * time.Millisecond) // a few more polls: no re-trigger
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if rec.count() != 1 {
		t.Errorf("trigger calls = %d, want 1", rec.count())
	}
}

func TestBucketURL(t *testing.T) {
	dir := t.TempDir()
	if got, _ := BucketURL(dir); got != "file://"+filepath.ToSlash(dir) {
		t.Errorf("BucketURL(dir) = %s", got)
	}
	if got, _ := BucketURL("s3://raw-bucket?region=eu-west-1"); got != "s3://raw-bucket?region=eu-west-1" {
		t.Errorf("URL changed: %s", got)
	}
	if _, err := BucketURL(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory accepted")
	}
}

// The watcher drives the stage runner the way `datalab watch` does: a new
// raw file reruns the pipeline, an unchanged bucket does nothing.
func TestTriggersPipelineRun(t *testing.T) {
	root := t.TempDir()
	testtree.WriteFile(t, filepath.Join(root, "datalab.yaml"), `
stages:
  count:
    cmd: cat raw/*.csv | wc -l > rows.txt
    deps: [raw]
    outs: [rows.txt]
`)
	testtree.WriteFile(t, filepath.Join(root, "raw", "a.csv"), "1\n")
	var runs []*stagerun.RunRecord
	trigger := func(ctx context.Context, _ []Change) error {
		p, err := stagerun.Load(filepath.Join(root, "datalab.yaml"))
		if err != nil {
			return err
		}
		rec, err := p.Run(ctx, nil, stagerun.Options{Logger: slog.New(slog.DiscardHandler)})
		runs = append(runs, rec)
		return err
	}
	w := newTestWatcher(t, filepath.Join(root, "raw"), filepath.Join(root, ".datalab", "watch-state.json"), trigger, -1)
	once(t, w)
	once(t, w)
	testtree.WriteFile(t, filepath.Join(root, "raw", "b.csv"), "2\n3\n")
	once(t, w)
	if len(runs) != 2 || !slices.Equal(runs[0].Ran(), []string{"count"}) || !slices.Equal(runs[1].Ran(), []string{"count"}) {
		t.Fatalf("runs = %d", len(runs))
	}
	rows, _ := os.ReadFile(filepath.Join(root, "rows.txt"))
	if strings.TrimSpace(string(rows)) != "3" {
		t.Errorf("rows.txt = %q", rows)
	}
}
