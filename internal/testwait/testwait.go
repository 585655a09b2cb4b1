// Package testwait polls a condition until it holds or a timeout passes, for
// tests that wait on something another goroutine or process does: a
// consumer committing, a server answering, a file appearing. Each test
// keeps its own timeout and interval (the time the waited-for work needs);
// what is shared is the loop and a failure that says what did not happen
// and for how long the test waited.
package testwait

import (
	"testing"
	"time"
)

// Poll calls cond, then again every interval, until it returns true (Poll
// returns true) or timeout has passed since the start with cond still false
// (Poll returns false after that last call). For a test that then checks
// the state itself, with its own message:
//
//	if !testwait.Poll(10*time.Second, 20*time.Millisecond, func() bool { n = count(); return n == want }) {
//		t.Fatalf("store holds %d predictions, want %d", n, want)
//	}
//
// cond runs on the calling goroutine, so it may call t.Fatal.
func Poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// Until polls cond like Poll and fails t (Fatalf) when it is still false
// after timeout: "waited 10s for <what>", what saying what did not happen
// ("the predictor to join its group").
func Until(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, interval, cond) {
		t.Fatalf("waited %v for %s", timeout, what)
	}
}
