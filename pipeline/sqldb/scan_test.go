package sqldb_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// TestScanConnSQLite: the scan's connection reads through a memory map,
// and is back in the pool without it.
func TestScanConnSQLite(t *testing.T) {
	ctx := context.Background()
	db, d, err := sqldb.OpenDB(ctx, filepath.Join(t.TempDir(), "scan.db"), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // the scan's connection is the one the pool hands out next
	mmap := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int64 {
		t.Helper()
		var n int64
		if err := q.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	conn, release, err := sqldb.ScanConn(ctx, db, d)
	if err != nil {
		t.Fatal(err)
	}
	if got := mmap(conn); got != sqldb.ScanMmapSize {
		t.Errorf("scan connection: mmap_size %d, want %d", got, sqldb.ScanMmapSize)
	}
	release()
	if got := mmap(db); got != 0 {
		t.Errorf("after release: mmap_size %d, want 0", got)
	}
}
