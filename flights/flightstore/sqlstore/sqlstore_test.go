package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/storetest"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

func TestSQLite(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "flights.db")
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s)
	s.Close()
	// Reopening applies no migration twice and keeps the data.
	s, err = Open(context.Background(), "sqlite:"+dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.Count(context.Background()); err != nil || n != 602 {
		t.Fatalf("after reopen: %d, %v", n, err)
	}
}

// TestServers runs the same behaviour on the PostgreSQL and MariaDB servers
// .ci/setup starts on loopback (DATALAB_TEST_POSTGRES, DATALAB_TEST_MYSQL);
// skipped locally when they are not set, failed under CI.
func TestServers(t *testing.T) {
	for _, env := range []string{"DATALAB_TEST_POSTGRES", "DATALAB_TEST_MYSQL"} {
		t.Run(env, func(t *testing.T) {
			dsn := os.Getenv(env)
			if dsn == "" {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not set", env)
				}
				t.Skipf("%s not set", env)
			}
			ctx := context.Background()
			s, err := Open(ctx, dsn)
			if err != nil {
				if os.Getenv("CI") == "" && strings.Contains(err.Error(), "connect") {
					t.Skipf("no server: %v", err)
				}
				t.Fatal(err)
			}
			defer s.Close()
			// Start from an empty table so counts are exact.
			if _, err := s.DB().ExecContext(ctx, "DELETE FROM "+Table); err != nil {
				t.Fatal(err)
			}
			storetest.Run(t, s)
		})
	}
}

// TestConcurrentFirstMigration: replicas (flight apps, predictors) opening
// the store on an empty database at the same moment all succeed and each
// migration is applied once. Without the migration lock they raced on the
// first CREATE TABLE (PostgreSQL: duplicate key …
// "pg_type_typname_nsp_index"). Fresh prefixed tables stand for the empty
// database, on SQLite and the PostgreSQL and MariaDB test servers.
func TestConcurrentFirstMigration(t *testing.T) {
	sqldbtest.FirstStartTogether(t, 8, 3, func(ctx context.Context, dsn, prefix string) error {
		s, err := Open(ctx, dsn, WithTablePrefix(prefix))
		if err != nil {
			return err
		}
		return s.Close()
	}, func(t *testing.T, _ sqldb.Dialect, dsn, prefix string) {
		s, err := Open(context.Background(), dsn, WithTablePrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		dropOnCleanup(t, s, prefix)
		var versions int
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM " + prefix + MigrationsTable).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if versions != len(migrations) {
			t.Errorf("%d migration rows, want %d", versions, len(migrations))
		}
		if n, err := s.Count(context.Background()); err != nil || n != 0 {
			t.Errorf("Count = %d, %v on the fresh table", n, err)
		}
	})
}

func TestTablePrefix(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "flights.db")
	s, err := Open(ctx, dsn, WithTablePrefix("a_"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Run(t, s)
	var n int
	if err := s.DB().QueryRow("SELECT COUNT(*) FROM a_" + Table).Scan(&n); err != nil || n == 0 {
		t.Errorf("rows in a_%s: %d, %v", Table, n, err)
	}
	for _, bad := range []string{"A_", "1a", "a-b", "a'; DROP TABLE x; --", "abcdefghijklmnopqrstuvwxyz_"} {
		if _, err := Open(ctx, dsn, WithTablePrefix(bad)); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

// openFresh opens a store on dialect under a fresh table prefix with policy
// p and drops its tables when the test ends.
func openFresh(t *testing.T, dialect sqldb.Dialect, p flightstore.Policy) *Store {
	t.Helper()
	dsn, prefix := sqldbtest.DSN(t, dialect), sqldbtest.Prefix(t)
	sqldbtest.Reachable(t, dialect, dsn)
	s, err := Open(context.Background(), dsn, WithTablePrefix(prefix), WithPolicy(p))
	if err != nil {
		t.Fatal(err)
	}
	dropOnCleanup(t, s, prefix)
	return s
}

// dropOnCleanup drops the tables of s (opened under prefix) and closes it
// when the test ends.
func dropOnCleanup(t *testing.T, s *Store, prefix string) {
	t.Cleanup(func() {
		for _, table := range []string{s.Table(), prefix + MigrationsTable} {
			if _, err := s.DB().Exec("DROP TABLE IF EXISTS " + table); err != nil {
				t.Errorf("drop %s: %v", table, err)
			}
		}
		s.Close()
	})
}

// TestAcceptUnissued: with the option, answers for ids the app never
// issued are stored (the redelivery and conflict rules still hold).
func TestAcceptUnissued(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			storetest.RunAcceptUnissued(t, openFresh(t, d, flightstore.Policy{AcceptUnissued: true}))
		})
	}
}

// TestExpiry is the bounded-growth test on SQLite, PostgreSQL and MariaDB:
// 10,000 issued ids never answered are gone after the TTL, removed by the
// store's periodic cleanup, and late answers are refused.
func TestExpiry(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			storetest.RunExpiry(t, func(t *testing.T, p flightstore.Policy) storetest.ExpiringStore {
				return openFresh(t, d, p)
			})
		})
	}
}

// TestScan: the time-window read of drift monitoring on SQLite,
// PostgreSQL and MariaDB.
func TestScan(t *testing.T) {
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			storetest.RunScan(t, func(t *testing.T, p flightstore.Policy) flightstore.Store {
				return openFresh(t, d, p)
			})
		})
	}
}
