package testwait

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestPollTrueAtOnce(t *testing.T) {
	calls := 0
	start := time.Now()
	if !Poll(time.Hour, time.Hour, func() bool { calls++; return true }) {
		t.Fatal("Poll = false for a condition that holds")
	}
	if calls != 1 || time.Since(start) > time.Second {
		t.Errorf("%d calls in %v, want 1 and no sleep", calls, time.Since(start))
	}
}

func TestPollUntilTrue(t *testing.T) {
	calls := 0
	if !Poll(10*time.Second, time.Millisecond, func() bool { calls++; return calls == 5 }) {
		t.Fatal("Poll gave up on a condition that became true")
	}
	if calls != 5 {
		t.Errorf("%d calls, want 5 (none after the condition held)", calls)
	}
}

func TestPollTimesOut(t *testing.T) {
	calls := 0
	start := time.Now()
	if Poll(50*time.Millisecond, 10*time.Millisecond, func() bool { calls++; return false }) {
		t.Fatal("Poll = true for a condition that never holds")
	}
	took := time.Since(start)
	// The whole timeout is waited, with calls all along it, and not much
	// more than one interval past it.
	if took < 50*time.Millisecond || took > 5*time.Second || calls < 3 {
		t.Errorf("gave up after %v and %d calls, want >= 50ms and several calls", took, calls)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and stops
// the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls Until on a fatalRecorder in its own goroutine and returns the
// failure message ("" when Until returned).
func run(timeout time.Duration, cond func() bool) string {
	f := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Until(f, timeout, time.Millisecond, "the widget to turn blue", cond)
	}()
	<-done
	return f.msg
}

func TestUntil(t *testing.T) {
	if msg := run(time.Second, func() bool { return true }); msg != "" {
		t.Errorf("Until failed a condition that holds: %q", msg)
	}
	if msg, want := run(20*time.Millisecond, func() bool { return false }), "waited 20ms for the widget to turn blue"; msg != want {
		t.Errorf("failure %q, want %q", msg, want)
	}
}
