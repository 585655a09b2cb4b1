package predlog

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Dialect is the SQL flavour of a log database.
type Dialect string

// The three supported databases.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// target is a parsed DSN: which driver to use and what to hand it.
type target struct {
	dialect Dialect
	driver  string // database/sql driver name
	dsn     string // driver-specific connection string
	path    string // SQLite: the database file
}

// parseDSN picks the database by the DSN's form:
//
//	/path/to/log.db, log.db, sqlite:///abs/path.db, sqlite://rel.db, file:log.db → SQLite
//	postgres://…, postgresql://…                                              → PostgreSQL (pgx)
//	mysql://user:pass@tcp(host:3306)/db, user:pass@tcp(host:3306)/db          → MySQL / MariaDB
//
// SQLite files get WAL journaling, a 5 s busy timeout and synchronous=NORMAL
// (durable across process crashes, the usual WAL trade-off). MySQL DSNs get
// parseTime=true and loc=UTC whatever they say, because the log stores UTC
// timestamps and scans them into time.Time.
func parseDSN(dsn string) (target, error) {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return target{}, fmt.Errorf("empty database DSN: give a SQLite file path, postgres://… or mysql://… (flag --db or DATALAB_DB)")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return target{dialect: Postgres, driver: "pgx", dsn: dsn}, nil
	case strings.HasPrefix(dsn, "mysql://"):
		return mysqlTarget(strings.TrimPrefix(dsn, "mysql://"))
	case isMySQLNative(dsn):
		return mysqlTarget(dsn)
	case strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "sqlite://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return target{}, fmt.Errorf("database DSN scheme %q is not supported: use a SQLite file path, sqlite://, postgres:// or mysql://", scheme)
	}
	return sqliteTarget(dsn)
}

// isMySQLNative recognises go-sql-driver's own DSN form
// ([user[:pass]@]net(addr)/db), which has no scheme.
func isMySQLNative(dsn string) bool {
	for _, n := range []string{"tcp(", "unix("} {
		if strings.HasPrefix(dsn, n) || strings.Contains(dsn, "@"+n) {
			return true
		}
	}
	return false
}

func mysqlTarget(dsn string) (target, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return target{}, fmt.Errorf("parse MySQL DSN %s: %w", Redact(dsn), err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	return target{dialect: MySQL, driver: "mysql", dsn: cfg.FormatDSN()}, nil
}

// sqlitePragmas are appended to every SQLite DSN (modernc.org/sqlite syntax).
// _txlock=immediate makes concurrent writers wait for the lock (busy
// timeout) instead of failing a deferred transaction's upgrade.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_time_format=sqlite&_txlock=immediate"

func sqliteTarget(dsn string) (target, error) {
	path := strings.TrimPrefix(dsn, "sqlite://")
	path = strings.TrimPrefix(path, "sqlite:")
	path = strings.TrimPrefix(path, "file:")
	query := ""
	if p, q, ok := strings.Cut(path, "?"); ok {
		path, query = p, q
	}
	if path == "" {
		return target{}, fmt.Errorf("SQLite DSN %q names no file", dsn)
	}
	params := sqlitePragmas
	if query != "" {
		params = query + "&" + params
	}
	return target{dialect: SQLite, driver: "sqlite", dsn: "file:" + path + "?" + params, path: path}, nil
}

// DialectOf reports which database dsn names (the forms parseDSN accepts).
func DialectOf(dsn string) (Dialect, error) {
	t, err := parseDSN(dsn)
	return t.dialect, err
}

// OpenDB connects to the database dsn names with the pool settings every
// datalab SQL store shares, creating a SQLite file's directory, and checks
// that the server answers. what names the store in errors ("prediction
// log", "flight store"); errors never contain the DSN's password. Stores
// run their own migrations on the handle.
func OpenDB(ctx context.Context, dsn, what string) (*sql.DB, Dialect, error) {
	t, err := parseDSN(dsn)
	if err != nil {
		return nil, "", err
	}
	if t.dialect == SQLite {
		if dir := filepath.Dir(t.path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, "", fmt.Errorf("%s: create directory for %s: %w", what, t.path, err)
			}
		}
	}
	db, err := sql.Open(t.driver, t.dsn)
	if err != nil {
		return nil, "", fmt.Errorf("open %s %s: %w", what, Redact(dsn), err)
	}
	switch t.dialect {
	case SQLite:
		// One writer at a time is all SQLite allows; a small pool still lets
		// reads run beside the writer under WAL.
		db.SetMaxOpenConns(4)
	default:
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(4)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("connect to %s %s: %w", what, Redact(dsn), err)
	}
	return db, t.dialect, nil
}

// Rebind turns ? placeholders into $1, $2, … for PostgreSQL and returns q
// unchanged for the other dialects. Queries must not contain a literal '?'.
func Rebind(d Dialect, q string) string {
	if d != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Redact returns dsn with any password replaced by "xxxxx", for logs and
// error messages. It understands URL DSNs (postgres://user:pass@host),
// go-sql-driver DSNs (user:pass@tcp(host)/db) and libpq key=value strings
// (password=…); anything else is returned unchanged.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		changed := false
		for k := range q {
			if isSecretParam(k) {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	// go-sql-driver form, possibly behind mysql://: user:pass@net(addr)/db.
	prefix, rest := "", dsn
	if strings.HasPrefix(rest, "mysql://") {
		prefix, rest = "mysql://", strings.TrimPrefix(rest, "mysql://")
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 && isMySQLNative(rest[at:]) {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if hasPass {
			return prefix + user + ":xxxxx" + rest[at:]
		}
		return dsn
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// kvPassword matches password=… in libpq key=value strings, quoted or not.
var kvPassword = regexp.MustCompile(`((?:^|\s)password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\S+)`)

func isSecretParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "pass" || k == "sslpassword"
}
