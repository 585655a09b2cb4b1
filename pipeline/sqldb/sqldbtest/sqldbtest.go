// Package sqldbtest opens test databases for datalab's SQL stores (the
// prediction log, matches/predlog, and the flight store,
// flights/flightstore/sqlstore): a SQLite file in the test's temporary
// directory, and the PostgreSQL and MariaDB/MySQL servers named by
// DATALAB_TEST_POSTGRES and DATALAB_TEST_MYSQL (the Makefile exports them;
// .ci/setup starts the servers on loopback).
//
// Each test gets its own table prefix (Prefix), so concurrent test packages
// sharing a server do not see each other's rows. A server that is not
// configured or not reachable skips the test locally and fails it under CI
// (CI set, e.g. CI=true), where it must be there.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// Dialects lists the databases every portable test runs against.
var Dialects = []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres, sqldb.MySQL}

// envVar names the variable holding each server's DSN.
var envVar = map[sqldb.Dialect]string{
	sqldb.Postgres: "DATALAB_TEST_POSTGRES",
	sqldb.MySQL:    "DATALAB_TEST_MYSQL",
}

// DSN returns the DSN to test dialect against: a fresh SQLite file, or the
// server DSN from the environment. It skips (locally) or fails (CI=true)
// when a server DSN is not set.
func DSN(t testing.TB, dialect sqldb.Dialect) string {
	t.Helper()
	if dialect == sqldb.SQLite {
		return filepath.Join(t.TempDir(), "sqldb.sqlite")
	}
	name := envVar[dialect]
	dsn := os.Getenv(name)
	if dsn == "" {
		Unavailable(t, "%s is not set: run the tests through make (which sets it) after .ci/setup has started the %s server", name, dialect)
	}
	return dsn
}

// Prefix returns a random table prefix unique to this test run.
func Prefix(t testing.TB) string {
	t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b[:]) + "_"
}

// Reachable skips (locally) or fails (CI=true) the test when the server
// dsn names does not answer; SQLite always does.
func Reachable(t testing.TB, dialect sqldb.Dialect, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, _, err := sqldb.OpenDB(ctx, dsn, "test database")
	if err != nil {
		if dialect == sqldb.SQLite {
			t.Fatal(err)
		}
		Unavailable(t, "%s server: %v", dialect, err)
	}
	db.Close()
}

// Together calls fn n times at once, as n replicas starting at the same
// moment: n goroutines wait for one signal, then run, each with a context
// that ends after a minute. It returns each call's error by index.
func Together(n int, fn func(ctx context.Context) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ready.Done()
			<-start
			errs[i] = fn(ctx)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// FirstStartTogether is the concurrent-first-start test both SQL stores
// run: on every dialect in Dialects, rounds times, replicas calls of open
// on one fresh table prefix start at the same moment and must all succeed;
// then after (which also drops the tables) checks the schema they left.
func FirstStartTogether(t *testing.T, replicas, rounds int,
	open func(ctx context.Context, dsn, prefix string) error,
	after func(t *testing.T, dialect sqldb.Dialect, dsn, prefix string)) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := DSN(t, d)
			Reachable(t, d, dsn)
			for round := range rounds {
				prefix := Prefix(t)
				errs := Together(replicas, func(ctx context.Context) error { return open(ctx, dsn, prefix) })
				for i, err := range errs {
					if err != nil {
						t.Errorf("round %d, replica %d: %v", round, i, err)
					}
				}
				after(t, d, dsn, prefix)
			}
		})
	}
}

// Unavailable skips the test locally, and fails it under CI (CI set), where
// every database server must be there.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
