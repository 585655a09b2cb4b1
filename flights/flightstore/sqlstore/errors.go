package sqlstore

import (
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dataError reports whether err is the database refusing the values it was
// given: SQLSTATE class 22 (data exception: value too long, invalid
// encoding, out of range) or 23 (integrity constraint violation) on
// PostgreSQL and MariaDB/MySQL, and constraint, type-mismatch and too-big
// errors on SQLite. Classes that may pass later — 08 (connection), 40
// (deadlock, serialization), 53 (resources), 57 (operator intervention),
// 42 (a missing table or privilege: a deployment fault, not the record's)
// — are not data errors.
func dataError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return dataClass(pe.Code)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		if me.SQLState != [5]byte{} && dataClass(string(me.SQLState[:])) {
			return true
		}
		// MySQL reports some data errors under the generic state HY000
		// (1366 "Incorrect string value" does, where MariaDB says 22007).
		return mysqlDataErrors[me.Number]
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG:
			return true
		}
	}
	return false
}

// dataClass reports whether a SQLSTATE is in class 22 or 23.
func dataClass(state string) bool {
	return len(state) == 5 && (state[:2] == "22" || state[:2] == "23")
}

// mysqlDataErrors are the MySQL/MariaDB error numbers of data exceptions
// and constraint violations (the server error reference maps them to
// SQLSTATE 22xxx/23xxx, or to HY000 in some versions).
var mysqlDataErrors = map[uint16]bool{
	1048: true,                                     // column cannot be null (23000)
	1062: true,                                     // duplicate entry (23000)
	1169: true,                                     // unique constraint (23000)
	1216: true, 1217: true, 1451: true, 1452: true, // foreign keys (23000)
	1264: true, // out of range (22003)
	1265: true, // data truncated (01000, an error in strict mode)
	1292: true, // incorrect value (22007)
	1364: true, // field has no default (HY000)
	1366: true, // incorrect string / integer value (HY000 on MySQL, 22007 on MariaDB)
	1406: true, // data too long (22001)
	1690: true, // value out of range (22003)
	3819: true, // check constraint (MySQL, HY000)
	4025: true, // check constraint (MariaDB, 23000)
}
