package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// The lock every datalab SQL store holds while it migrates. One lock for
// all stores and versions: migrations are short and rare, and a single name
// cannot be got wrong by one store.
const (
	// migrationLockKey is the PostgreSQL advisory lock key: "datalab" in
	// ASCII, read as a big-endian integer. Advisory locks are per database.
	migrationLockKey int64 = 0x646174616c6162
	// migrationLockName is the MySQL/MariaDB named lock. Named locks are per
	// server, so migrations of different databases on one server also take
	// turns.
	migrationLockName = "datalab_migrate"
)

// MigrationLockWait bounds how long WithMigrationLock waits for another
// process's migration (a shorter context deadline wins).
const MigrationLockWait = 2 * time.Minute

// WithMigrationLock runs migrate on one connection of db while holding
// datalab's migration lock, so that processes starting together against one
// database (replicas of `datalab serve`, the flight app and its predictors)
// migrate one after the other instead of racing on the first CREATE TABLE.
//
//   - PostgreSQL: pg_advisory_lock on the connection, pg_advisory_unlock after.
//   - MySQL/MariaDB: GET_LOCK('datalab_migrate', …), RELEASE_LOCK after.
//   - SQLite: no lock here. The DSN's _txlock=immediate makes every
//     transaction take the write lock at BEGIN (waiting up to the busy
//     timeout), so a migration that reads the applied versions inside its
//     transaction is already serialised.
//
// The lock is a session lock, so migrate must run every statement on conn:
// the same session that holds it. Whatever happens, the lock is released
// or the connection is discarded (which ends the session and releases the
// lock on the server); a connection still holding it never goes back to
// db's pool.
func WithMigrationLock(ctx context.Context, db *sql.DB, d Dialect, migrate func(ctx context.Context, conn *sql.Conn) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.Close()
	if d == SQLite {
		return migrate(ctx, conn)
	}
	if err := lockMigrations(ctx, conn, d); err != nil {
		// A wait cut short may still have been granted on the server.
		discard(conn)
		return err
	}
	defer func() {
		// Release even when ctx is cancelled: the migration is over either way.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if uerr := unlockMigrations(uctx, conn, d); uerr != nil {
			discard(conn)
			if err == nil {
				err = uerr
			}
		}
	}()
	return migrate(ctx, conn)
}

// discard closes conn's session instead of returning it to the pool, which
// releases any session lock it holds on the server.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
}

// lockMigrations waits for the migration lock on conn.
func lockMigrations(ctx context.Context, conn *sql.Conn, d Dialect) error {
	wait := MigrationLockWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	switch d {
	case Postgres:
		lctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if _, err := conn.ExecContext(lctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			if errors.Is(lctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("waited %s for another process's migration (PostgreSQL advisory lock %d; pg_locks shows which session holds it): %w",
					wait.Round(time.Second), migrationLockKey, err)
			}
			return fmt.Errorf("take the migration lock (pg_advisory_lock): %w", err)
		}
		return nil
	case MySQL:
		var got sql.NullInt64
		secs := max(1, int(wait.Seconds()))
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", migrationLockName, secs).Scan(&got); err != nil {
			return fmt.Errorf("take the migration lock (GET_LOCK): %w", err)
		}
		if !got.Valid || got.Int64 != 1 {
			return fmt.Errorf("waited %ds for another process's migration (named lock %q; IS_USED_LOCK(%q) shows which connection holds it)",
				secs, migrationLockName, migrationLockName)
		}
		return nil
	}
	return fmt.Errorf("migration lock: unknown dialect %q", d)
}

// unlockMigrations releases what lockMigrations took.
func unlockMigrations(ctx context.Context, conn *sql.Conn, d Dialect) error {
	var released sql.NullBool
	var err error
	switch d {
	case Postgres:
		err = conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", migrationLockKey).Scan(&released)
	case MySQL:
		err = conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", migrationLockName).Scan(&released)
	}
	if err != nil {
		return fmt.Errorf("release the migration lock: %w", err)
	}
	if !released.Bool {
		return errors.New("release the migration lock: this session did not hold it")
	}
	return nil
}
