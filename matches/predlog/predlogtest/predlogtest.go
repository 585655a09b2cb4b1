// Package predlogtest opens prediction logs on real databases for tests,
// on the databases pipeline/sqldb/sqldbtest provides (a SQLite file, and
// the PostgreSQL and MariaDB/MySQL servers of DATALAB_TEST_POSTGRES and
// DATALAB_TEST_MYSQL), each under its own table prefix and dropped when the
// test ends, and fills a log with many rows at once (BulkFill).
package predlogtest

import (
	"context"
	"testing"
	"time"

	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// Open opens a log on dsn (sqldbtest.DSN) under prefix (sqldbtest.Prefix) and drops
// its tables when the test ends. A server that cannot be reached skips
// (locally) or fails (CI=true) the test.
func Open(t testing.TB, dialect sqldb.Dialect, dsn, prefix string) *predlog.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := predlog.Open(ctx, dsn, predlog.WithTablePrefix(prefix))
	if err != nil {
		if dialect == sqldb.SQLite {
			t.Fatal(err)
		}
		sqldbtest.Unavailable(t, "%s server: %v", dialect, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, table := range []string{l.Table(), l.UsageTable(), prefix + "predlog_migrations"} {
			if _, err := l.DB().ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
				t.Errorf("drop %s: %v", table, err)
			}
		}
		l.Close()
	})
	return l
}

// OpenFresh is sqldbtest.DSN + sqldbtest.Prefix + Open: a new, empty log on
// dialect.
func OpenFresh(t testing.TB, dialect sqldb.Dialect) *predlog.Log {
	t.Helper()
	return Open(t, dialect, sqldbtest.DSN(t, dialect), sqldbtest.Prefix(t))
}
