package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// TestMigrationLock: while one session migrates, another waits (and gives
// up at its deadline with an error saying why); a failed migration still
// releases the lock.
func TestMigrationLock(t *testing.T) {
	for _, d := range []sqldb.Dialect{sqldb.Postgres, sqldb.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			dsn := sqldbtest.DSN(t, d)
			sqldbtest.Reachable(t, d, dsn)
			ctx := context.Background()
			open := func() *sql.DB {
				db, _, err := sqldb.OpenDB(ctx, dsn, "test database")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			first, second := open(), open()
			boom := errors.New("migration failed")
			err := sqldb.WithMigrationLock(ctx, first, d, func(ctx context.Context, _ *sql.Conn) error {
				wctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
				defer cancel()
				err := sqldb.WithMigrationLock(wctx, second, d, func(context.Context, *sql.Conn) error {
					t.Error("second session migrated while the first held the lock")
					return nil
				})
				if err == nil || !strings.Contains(err.Error(), "another process's migration") {
					t.Errorf("waiting for a held lock: %v, want a timeout naming the other migration", err)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("WithMigrationLock = %v, want the migration's error", err)
			}
			// Released after the failure: the second session gets it at once.
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			ran := false
			if err := sqldb.WithMigrationLock(wctx, second, d, func(context.Context, *sql.Conn) error { ran = true; return nil }); err != nil || !ran {
				t.Fatalf("after a failed migration: ran %v, %v", ran, err)
			}
		})
	}
}
