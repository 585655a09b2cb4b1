package swaptest

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// failures runs check on a recorder, as a test would, and returns what it
// reported.
func failures(t *testing.T, check func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return strings.Join(r.failures, "; ")
}

var (
	idA, idB = strings.Repeat("a", 64), strings.Repeat("b", 64)
	t0       = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	swaps    = []Swap{{idA, t0}, {idB, t0.Add(time.Second)}, {idA, t0.Add(2 * time.Second)}}
)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestSwapsFromLog(t *testing.T) {
	log := `time=x level=INFO msg="serving model version" model=matches alias=champion from="" version=aaaaaaaaaaaa since=2026-12-07T12:00:00Z load_took=5ms
time=x level=INFO msg=request method=POST path=/api/v1/matches/predict status=200
time=x level=INFO msg="serving model version" model=matches alias=champion from=aaaaaaaaaaaa version=bbbbbbbbbbbb since=2026-12-07T12:00:01.000000001Z load_took=5ms
`
	got := SwapsFromLog(t, log, idA, idB)
	if len(got) != 2 || got[0] != (Swap{idA, t0}) || got[1] != (Swap{idB, t0.Add(time.Second + 1)}) {
		t.Errorf("%+v", got)
	}
}

func TestCheckLog(t *testing.T) {
	entry := func(v string, ms int) Entry { return Entry{Version: v, ServerTime: at(ms)} }
	good := []Entry{entry(idA, 10), entry(idA, 999), entry(idB, 1000), entry(idB, 1500), entry(idA, 2000), entry(idA, 2500)}
	for _, c := range []struct {
		name      string
		entries   []Entry
		precision time.Duration
		want      string // in the failure; "" for none
	}{
		{"exact", good, 0, ""},
		{"a late A", []Entry{entry(idA, 10), entry(idA, 1000), entry(idB, 1001), entry(idA, 2000)}, 0, "the swap was at"},
		{"an early B", []Entry{entry(idA, 10), entry(idB, 999), entry(idB, 1500), entry(idA, 2000)}, 0, "the swap was at"},
		{"A inside B", []Entry{entry(idA, 10), entry(idB, 1000), entry(idA, 1400), entry(idB, 1500), entry(idA, 2000)}, 0, "5 runs"},
		{"no rollback", []Entry{entry(idA, 10), entry(idB, 1000)}, 0, "2 runs"},
		{"out of order", []Entry{entry(idA, 10), entry(idA, 5)}, 0, "not in time order"},
		{"within a microsecond", []Entry{entry(idA, 10), {Version: idA, ServerTime: at(1000).Add(500 * time.Nanosecond)}, entry(idB, 1500), entry(idA, 2000)}, time.Microsecond, ""},
		{"beyond a microsecond", []Entry{entry(idA, 10), {Version: idA, ServerTime: at(1000).Add(2 * time.Microsecond)}, entry(idB, 1500), entry(idA, 2000)}, time.Microsecond, "the swap was at"},
	} {
		got := failures(t, func(tb testing.TB) { CheckLog(tb, c.entries, swaps, c.precision) })
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: failures %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCheckAnswers(t *testing.T) {
	ok := func(v string, ms int) Answer { return Answer{Status: 200, Header: v, Body: v, ServerTime: at(ms)} }
	good := []Answer{ok(idA, 5), ok(idB, 1000), ok(idA, 2001)}
	if got := failures(t, func(tb testing.TB) { CheckAnswers(tb, good, swaps) }); got != "" {
		t.Errorf("good answers: %s", got)
	}
	for _, c := range []struct {
		name string
		a    Answer
		want string
	}{
		{"connection error", Answer{Err: errors.New("connection reset")}, "connection reset"},
		{"status", Answer{Status: 503}, "status 503"},
		{"mixed", Answer{Status: 200, Header: idA, Body: idB, ServerTime: at(1500)}, "mixed"},
		{"stale", ok(idA, 1000), "when bbbbbbbbbbbb was serving"},
	} {
		if got := failures(t, func(tb testing.TB) { CheckAnswers(tb, append(good, c.a), swaps) }); !strings.Contains(got, c.want) {
			t.Errorf("%s: failures %q, want %q", c.name, got, c.want)
		}
	}
}
