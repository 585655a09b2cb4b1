package sqldb

import (
	"context"
	"database/sql"
	"fmt"
)

// ScanMmapSize is the memory-mapped window ScanConn gives a SQLite
// connection: SQLite's compile-time maximum (SQLITE_MAX_MMAP_SIZE, just
// under 2 GiB), which it caps larger values at.
const ScanMmapSize = 0x7fff0000

// ScanConn returns a connection of db for one long sequential read — the
// stores' scans of a time window for drift monitoring. On SQLite it turns
// memory-mapped reads on for that connection (PRAGMA mmap_size): each page
// is then read from the mapping instead of with a pread system call, which
// took a scan of a million-row prediction log (830 MB) from 11–14 s to
// 8–9 s on two cores (docs/monitoring.md).
// release turns them off again and returns the connection to the pool, so
// the pool's other work is unchanged. Other databases get a plain
// connection.
func ScanConn(ctx context.Context, db *sql.DB, d Dialect) (conn *sql.Conn, release func(), err error) {
	conn, err = db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if d != SQLite {
		return conn, func() { conn.Close() }, nil
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", ScanMmapSize)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("memory-map the scan's reads: %w", err)
	}
	return conn, func() {
		if _, err := conn.ExecContext(context.Background(), "PRAGMA mmap_size = 0"); err != nil {
			discard(conn) // not back to the pool with the mapping on
			return
		}
		conn.Close()
	}, nil
}
