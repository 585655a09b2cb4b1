// Package swaptest is the hot-swap test of the match app under load: two
// small real match models registered in a directory model registry, an
// app serving registry:matches@champion driven at a fixed rate
// (internal/loadgen) while the alias is promoted to the second model and
// rolled back to the first, and the checks that follow — no failed answer;
// every answer labelled with one version (X-Model-Version equal to the
// body's model_version), the one that was serving at its server time; and
// the prediction log, ordered by server time, changing version exactly at
// the swap times the follower logged (A…A B…B A…A).
//
// cmd/datalab runs it against the real `datalab serve` binary (SQLite
// log); matches/matchapp runs it in process on every log database, with a
// clock that holds each time stamp for a few milliseconds, so that a
// request stamping its time outside its model snapshot would be caught at
// a swap. Only tests import it.
package swaptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/loadgen"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/matches/matchmodel"
	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/registry"
)

// Model is the registry model name the tests serve.
const Model = "matches"

// tinyForests are the two models of Models: the served feature set
// (form3) with a few shallow trees and different seeds, so they know the
// same teams and answer with different probabilities.
var tinyForests = map[string]matchmodel.ForestConfig{
	"a": {NumTrees: 8, MaxDepth: 6, MaxBins: 32, MinInstancesPerNode: 20, FeatureSubset: "onethird", Seed: 1},
	"b": {NumTrees: 12, MaxDepth: 6, MaxBins: 32, MinInstancesPerNode: 20, FeatureSubset: "onethird", Seed: 2},
}

// Models trains two tiny match models (a second or two each) and returns
// their directories; see Train.
func Models(t testing.TB) (dirA, dirB string) {
	t.Helper()
	var cfgs []matchmodel.Config
	for _, name := range []string{"a", "b"} {
		cfgs = append(cfgs, matchmodel.Config{Variants: []string{"form3"}, ServeVariant: "form3", TestYear: 2022,
			Forests: map[string]matchmodel.ForestConfig{"form3": tinyForests[name]}})
	}
	dirs := Train(t, cfgs...)
	return dirs[0], dirs[1]
}

// Train trains the served variant of each configuration from the mirror's
// match data into the test's temporary directory, as the pipeline's ingest
// → features → train stages do, and returns the model directories in
// order. The mirror missing skips the test locally and fails it under CI
// (internal/testmirror).
func Train(t testing.TB, cfgs ...matchmodel.Config) []string {
	t.Helper()
	matchesCSV := testmirror.Path(t, "matches", "international_matches.csv")
	groups := testmirror.Path(t, "matches", "worldcup2022", "2022_world_cup_groups.csv")
	ctx := context.Background()
	dir := t.TempDir()
	mp, lp := filepath.Join(dir, "matches.parquet"), filepath.Join(dir, "lookup.json")
	ds, _ := ingest.Lookup("matches")
	if _, err := ingest.Run(ctx, ds, ingest.Config{Inputs: []string{matchesCSV}, Output: mp}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := matchmodel.FeaturesStage(mp, lp, filepath.Join(dir, "features.parquet")); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i, cfg := range cfgs {
		data, err := matchmodel.LoadData(mp, lp, cfg.TestYear)
		if err != nil {
			t.Fatal(err)
		}
		models := filepath.Join(dir, fmt.Sprint("models-", i))
		if _, err := matchmodel.TrainStage(ctx, cfg, data, groups, models, []string{cfg.ServeVariant}); err != nil {
			t.Fatalf("train model %d (%s): %v", i, cfg.ServeVariant, err)
		}
		dirs = append(dirs, filepath.Join(models, cfg.ServeVariant))
	}
	return dirs
}

// Registry registers the two models as versions of Model in a new
// directory registry at dir, points champion at A and returns the
// registry and the two version ids.
func Registry(t testing.TB, dir, dirA, dirB string) (reg *registry.Registry, a, b string) {
	t.Helper()
	ctx := context.Background()
	reg, err := registry.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	var ids []string
	for _, d := range []string{dirA, dirB} {
		v, _, err := reg.Register(ctx, d, registry.Version{Model: Model, Variant: "form3"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	if ids[0] == ids[1] {
		t.Fatal("the two models are one version")
	}
	if _, _, err := reg.Promote(ctx, Model, registry.DefaultAlias, ids[0], registry.PromoteOptions{Reason: "swaptest: A"}); err != nil {
		t.Fatal(err)
	}
	return reg, ids[0], ids[1]
}

// Run is one drive of an app: requests at Rate from the start; after Lead,
// champion is promoted to version B; once an answer by B has come, B is
// served for Hold, then champion is rolled back (to A); once an answer by A
// stamped after the rollback has come, the requests go on for Tail.
type Run struct {
	// URL is the app's base URL (http://host:port).
	URL              string
	Rate             float64
	B                string
	Lead, Hold, Tail time.Duration
	// AfterMove, when set, runs after each move of the alias (in process:
	// the follower's Check, to swap at once rather than at its next poll).
	AfterMove func()
}

// Answer is one response as the client saw it.
type Answer struct {
	Err    error
	Status int
	// Header is X-Model-Version; Body and ServerTime are the answer's
	// model_version and server_time.
	Header, Body string
	ServerTime   time.Time
	// Received is when the client had the whole answer (its clock).
	Received time.Time
}

// Move is one move of the alias as the client saw it.
type Move struct {
	// Moved is when the move returned (the alias was written).
	Moved time.Time
	// FirstAnswer is when the first answer by the new version arrived.
	FirstAnswer time.Time
}

// Latency is the swap latency seen by a client: from the alias write to
// the first answer by the new version.
func (m Move) Latency() time.Duration { return m.FirstAnswer.Sub(m.Moved) }

// MaxSwapWait bounds the wait for the first answer by a new version.
const MaxSwapWait = 30 * time.Second

// Load is predictions sent to an app at a fixed rate (open loop, at most
// 64 in flight; internal/loadgen) until Stop, every answer kept.
type Load struct {
	mu      sync.Mutex
	answers []Answer
	waitFor func(Answer) bool // the answer Await waits for, nil when none
	arrived chan time.Time
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartLoad starts sending rate predictions a second to the app at url
// (http://host:port).
func StartLoad(url string, rate float64) *Load {
	client := loadgen.Client(64)
	bodies := loadgen.Bodies()
	predict := url + "/api/v1/matches/predict"
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{cancel: cancel, done: make(chan struct{})}
	send := func(i int) bool {
		a := Ask(client, predict, bodies[i%len(bodies)])
		l.mu.Lock()
		l.answers = append(l.answers, a)
		if l.waitFor != nil && l.waitFor(a) {
			l.arrived <- a.Received
			l.waitFor = nil
		}
		l.mu.Unlock()
		return a.Err == nil
	}
	go func() {
		defer close(l.done)
		loadgen.RunUntil(ctx, send, rate, 64)
	}()
	return l
}

// Expect starts watching for the first answer that want accepts (want
// runs under the load's lock, on its goroutines); wait returns when it
// arrived, or ok false if none came within MaxSwapWait. Call it before
// what should bring the answer, so that the first one is not missed.
func (l *Load) Expect(want func(Answer) bool) (wait func() (arrived time.Time, ok bool)) {
	ch := make(chan time.Time, 1)
	l.mu.Lock()
	l.waitFor, l.arrived = want, ch
	l.mu.Unlock()
	return func() (time.Time, bool) {
		select {
		case arrived := <-ch:
			return arrived, true
		case <-time.After(MaxSwapWait):
			l.mu.Lock()
			l.waitFor = nil
			l.mu.Unlock()
			return time.Time{}, false
		}
	}
}

// Stop stops sending, waits for the answers in flight and returns them all.
func (l *Load) Stop() []Answer {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answers
}

// Drive sends r.Rate predictions a second to r.URL while moving champion
// of reg from A to B and back, and returns every answer and the two moves.
func Drive(t testing.TB, reg *registry.Registry, r Run) (answers []Answer, promote, rollback Move) {
	t.Helper()
	l := StartLoad(r.URL, r.Rate)
	defer l.Stop()
	ctx := context.Background()
	// move makes one move of the alias and waits for the first answer
	// by the new version.
	move := func(what string, do func() error, want func(a Answer) bool) Move {
		var m Move
		wait := l.Expect(want)
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		m.Moved = time.Now()
		if r.AfterMove != nil {
			r.AfterMove()
		}
		var ok bool
		if m.FirstAnswer, ok = wait(); !ok {
			t.Fatalf("%s: no answer by the new version %v after the alias moved", what, MaxSwapWait)
		}
		return m
	}
	time.Sleep(r.Lead)
	promote = move("promote B", func() error {
		_, _, err := reg.Promote(ctx, Model, registry.DefaultAlias, r.B, registry.PromoteOptions{Force: true, Reason: "swaptest: to B"})
		return err
	}, func(a Answer) bool { return a.Body == r.B })
	time.Sleep(r.Hold)
	// A's answers from before the promotion were all stamped long before
	// this moment: an answer by A stamped after it is the rolled-back A.
	before := time.Now()
	rollback = move("roll back to A", func() error {
		_, err := reg.Rollback(ctx, Model, registry.DefaultAlias, "", registry.PromoteOptions{Reason: "swaptest: back to A"})
		return err
	}, func(a Answer) bool { return a.Body != "" && a.Body != r.B && a.ServerTime.After(before) })
	time.Sleep(r.Tail)
	return l.Stop(), promote, rollback
}

// Ask posts one prediction request and reads the answer's version labels.
func Ask(client *http.Client, url string, body []byte) Answer {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return Answer{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := Answer{Err: err, Status: resp.StatusCode, Header: resp.Header.Get(matchapp.ModelVersionHeader), Received: time.Now()}
	if err != nil || resp.StatusCode != http.StatusOK {
		return a
	}
	var v struct {
		ModelVersion string    `json:"model_version"`
		ServerTime   time.Time `json:"server_time"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		a.Err = fmt.Errorf("answer %q: %w", b, err)
		return a
	}
	a.Body, a.ServerTime = v.ModelVersion, v.ServerTime
	return a
}

// Swap is a version beginning to serve, as the follower logged it.
type Swap struct {
	Version string // full id
	Since   time.Time
}

var swapLine = regexp.MustCompile(`msg="serving model version" .*\bversion=([0-9a-f]+) since=(\S+)`)

// SwapsFromLog reads the follower's "serving model version" lines (slog
// text) from logText, in order, naming each version by the full id among
// ids that its short form starts.
func SwapsFromLog(t testing.TB, logText string, ids ...string) []Swap {
	t.Helper()
	var out []Swap
	for _, m := range swapLine.FindAllStringSubmatch(logText, -1) {
		since, err := time.Parse(time.RFC3339Nano, m[2])
		if err != nil {
			t.Fatalf("swap line since %q: %v", m[2], err)
		}
		i := slices.IndexFunc(ids, func(id string) bool { return strings.HasPrefix(id, m[1]) })
		if i < 0 {
			t.Fatalf("swap to version %s, which is none of %v", m[1], ids)
		}
		out = append(out, Swap{Version: ids[i], Since: since})
	}
	return out
}

// CheckSwaps checks that the follower served A, then B, then A again.
func CheckSwaps(t testing.TB, swaps []Swap, a, b string) {
	t.Helper()
	var got []string
	for _, s := range swaps {
		got = append(got, registry.Short(s.Version))
	}
	if want := []string{registry.Short(a), registry.Short(b), registry.Short(a)}; !slices.Equal(got, want) {
		t.Fatalf("the follower served %v, want %v (A, B, A)", got, want)
	}
	for i := 1; i < len(swaps); i++ {
		if !swaps[i].Since.After(swaps[i-1].Since) {
			t.Fatalf("swap %d since %v is not after swap %d's %v", i, swaps[i].Since, i-1, swaps[i-1].Since)
		}
	}
}

// servingAt is the version swaps say served at time ts: the last swap
// whose Since is not after ts.
func servingAt(swaps []Swap, ts time.Time) string {
	v := ""
	for _, s := range swaps {
		if !s.Since.After(ts) {
			v = s.Version
		}
	}
	return v
}

// CheckAnswers checks that every answer is a 200 without error, that its
// X-Model-Version equals its model_version, and that this is the version
// the follower was serving at its server time (the answers' times are
// exact: swaps order them to the nanosecond). It returns the number of
// good answers by version; the test goes on to check the log.
func CheckAnswers(t testing.TB, answers []Answer, swaps []Swap) map[string]int {
	t.Helper()
	n := map[string]int{}
	bad := 0
	for _, a := range answers {
		var problem string
		switch want := servingAt(swaps, a.ServerTime); {
		case a.Err != nil:
			problem = a.Err.Error()
		case a.Status != http.StatusOK:
			problem = fmt.Sprintf("status %d", a.Status)
		case a.Header != a.Body:
			problem = fmt.Sprintf("%s %s, body model_version %s: mixed", matchapp.ModelVersionHeader, a.Header, a.Body)
		case a.Body != want:
			problem = fmt.Sprintf("version %s at server time %s, when %s was serving", registry.Short(a.Body),
				a.ServerTime.Format(time.RFC3339Nano), registry.Short(want))
		}
		if problem != "" {
			if bad++; bad <= 10 {
				t.Errorf("answer: %s", problem)
			}
			continue
		}
		n[a.Body]++
	}
	if bad > 0 {
		t.Errorf("%d of %d answers failed or carried the wrong version", bad, len(answers))
	}
	return n
}

// Entry is one logged prediction: its version and server time.
type Entry struct {
	ID         int64
	Version    string
	ServerTime time.Time
}

// ReadLog reads the log's predictions ordered by server time (then id).
func ReadLog(t testing.TB, l *predlog.Log) []Entry {
	t.Helper()
	rows, err := l.DB().QueryContext(context.Background(),
		"SELECT id, model_version, server_time FROM "+l.Table()+" ORDER BY server_time, id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.Version, &e.ServerTime); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// CheckLog checks that the log, ordered by server time, is exactly three
// runs of one version each — A…A B…B A…A, as swaps say — and that each
// change of version lies at its swap's Since: the last entry of a run
// before it, the first of the next at or after it. precision is how finely
// the database stores times (0: to the nanosecond, SQLite; 1 µs on
// PostgreSQL and MariaDB, which may round either way), so the boundaries
// are checked to within it.
func CheckLog(t testing.TB, entries []Entry, swaps []Swap, precision time.Duration) {
	t.Helper()
	type run struct {
		version     string
		first, last time.Time
		n           int
	}
	var runs []run
	for i, e := range entries {
		if i > 0 && e.ServerTime.Before(entries[i-1].ServerTime) {
			t.Fatalf("the log's order by server_time is not in time order: entry %d at %v after %d at %v",
				e.ID, e.ServerTime, entries[i-1].ID, entries[i-1].ServerTime)
		}
		if len(runs) == 0 || runs[len(runs)-1].version != e.Version {
			runs = append(runs, run{version: e.Version, first: e.ServerTime})
		}
		r := &runs[len(runs)-1]
		r.last = e.ServerTime
		r.n++
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s×%d", registry.Short(r.version), r.n))
	}
	if len(runs) != len(swaps) {
		t.Fatalf("the log ordered by server_time has %d runs of one version (%s), want %d: A…A B…B A…A", len(runs), strings.Join(got, " "), len(swaps))
	}
	for i, r := range runs {
		if r.version != swaps[i].Version {
			t.Fatalf("run %d of the log is version %s, the follower served %s then (%s)", i, registry.Short(r.version), registry.Short(swaps[i].Version), strings.Join(got, " "))
		}
		if i == 0 {
			continue
		}
		since, prev := swaps[i].Since, runs[i-1]
		before := prev.last.Before(since)
		after := !r.first.Before(since)
		if precision > 0 {
			before = prev.last.Before(since.Add(precision))
			after = r.first.After(since.Add(-precision))
		}
		if !before || !after {
			t.Errorf("version change %d: the log's last %s is at %s and first %s at %s; the swap was at %s",
				i, registry.Short(prev.version), prev.last.Format(time.RFC3339Nano),
				registry.Short(r.version), r.first.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
			continue
		}
		t.Logf("version change %d at %s: last %s %v before, first %s %v after",
			i, since.Format(time.RFC3339Nano), registry.Short(prev.version), since.Sub(prev.last), registry.Short(r.version), r.first.Sub(since))
	}
}
