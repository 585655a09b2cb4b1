// Package sqldb is what every datalab store shares about its database, so
// that the match app's prediction log (matches/predlog) and the flight
// stores (flights/flightstore/sqlstore, flights/flightstore/mongostore) read,
// open and migrate theirs the same way without importing each other:
//
//   - ParseDSN: one parser for every connection string — a SQLite file path
//     (or sqlite://, file:), postgres:// and libpq key=value, go-sql-driver's
//     MySQL/MariaDB forms, and mongodb:// URIs (the flight store) — that
//     refuses what it cannot tell apart instead of guessing;
//   - Redact, DSN.String and DSN.Scrub: passwords replaced in anything that
//     is logged, printed or returned in an error;
//   - OpenDB: a connection pool with the settings every SQL store shares
//     (SQLite WAL, busy timeout and pool size; server pools), checked with a
//     ping;
//   - WithMigrationLock: the lock under which replicas starting together
//     migrate one after the other;
//   - Rebind and CheckTablePrefix: ? placeholders rebound for PostgreSQL, and
//     table-name prefixes safe to splice into SQL;
//   - ScanConn: a connection for a long sequential read (the stores' scans
//     of a time window), memory-mapped on SQLite.
//
// Importing the package registers the three SQL drivers: modernc.org/sqlite
// (pure Go), pgx and go-sql-driver/mysql. It is part of the core and imports
// no use case; sqldbtest opens test databases for the stores' tests.
package sqldb
