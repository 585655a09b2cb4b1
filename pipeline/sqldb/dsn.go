package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"   // also registers the MySQL / MariaDB driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite"
)

// Dialect is the kind of database a DSN names: one of the three SQL
// databases of the SQL stores, or MongoDB (flight store only).
type Dialect string

// The supported databases. SQLite, Postgres and MySQL are SQL (OpenDB);
// MongoDB is only for flights/flightstore/mongostore.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
	MongoDB  Dialect = "mongodb"
)

// RedactedDSN is what Redact returns for a string it cannot parse: nothing
// of the input, since an unparsable DSN may hold a password anywhere. It is
// itself refused by ParseDSN, so a redacted string is never mistaken for a
// SQLite file name.
const RedactedDSN = "[DSN hidden: not a recognised form]"

// redactedSecret replaces passwords in redacted DSNs.
const redactedSecret = "xxxxx"

// acceptedForms ends every refusal: which forms the parser accepts.
const acceptedForms = "accepted forms: a SQLite file path (or sqlite:///path, file:path), " +
	"postgres://user:pass@host/db, libpq key=value (host=… user=… password=… dbname=…), " +
	"mysql://user:pass@tcp(host:3306)/db or user:pass@tcp(host:3306)/db, mongodb:// or mongodb+srv://"

// DSN is a parsed connection string of any datalab store: the prediction
// log, the flight stores (SQL and MongoDB), the predictor and `datalab up`
// all read theirs with ParseDSN. Its String is the redacted form, so a DSN
// is safe to log or print; ConnString is what the driver needs.
type DSN struct {
	// Dialect is the database the DSN names.
	Dialect Dialect

	driver   string   // database/sql driver name ("" for MongoDB)
	conn     string   // what the driver is handed (holds the password)
	path     string   // SQLite: the database file
	database string   // MongoDB: the database in the URI's path, if any
	redacted string   // String()
	secrets  []string // password-like values, scrubbed from driver errors
}

// String is the DSN with every password replaced by "xxxxx".
func (d DSN) String() string { return d.redacted }

// ConnString is the connection string for the driver. It holds the
// password: never log it or put it in an error.
func (d DSN) ConnString() string { return d.conn }

// Path is the database file of a SQLite DSN ("" for the other databases).
func (d DSN) Path() string { return d.path }

// Database is the database a MongoDB URI names in its path ("" when none).
func (d DSN) Database() string { return d.database }

// Scrub returns err with every password of the DSN replaced by "xxxxx" in
// its message: driver errors can quote what they were given. The result
// still answers errors.Is for err's chain (deadlines, cancellation) but does
// not unwrap, so the original message cannot be reached by printing.
func (d DSN) Scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := scrubText(err.Error(), d.secrets)
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

// scrubText replaces each secret in s. Secrets shorter than 4 bytes are left:
// replacing "a" everywhere would garble the message without hiding anything
// a reader could not guess.
func scrubText(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, redactedSecret)
		}
	}
	return s
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }

var (
	schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
	kvKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\s*=`)
	// queryKeyRE is an option name in a URL query (sslmode, replicaSet,
	// authMechanismProperties, pool_max_conns, …).
	queryKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// ParseDSN reads a connection string and names its database by its form:
//
//	/path/to/log.db, log.db, sqlite:///abs/path.db, sqlite://rel.db, file:log.db → SQLite
//	postgres://…, postgresql://…, host=… user=… dbname=… (libpq key=value)     → PostgreSQL (pgx)
//	mysql://user:pass@tcp(host:3306)/db, user:pass@tcp(host:3306)/db          → MySQL / MariaDB
//	mongodb://…, mongodb+srv://…                                              → MongoDB
//
// What could be read two ways is refused rather than guessed: a bare file
// name containing whitespace, ':', '@' or '=' (a mistyped connection string
// would otherwise become a new SQLite file named after it — write
// sqlite:///path for such a file), a key=value list naming no host, user,
// dbname or service, a URL whose password has unencoded special characters.
// Errors never contain the input: it may hold a password.
//
// SQLite files get WAL journaling, a 5 s busy timeout and synchronous=NORMAL
// (durable across process crashes, the usual WAL trade-off). MySQL DSNs get
// parseTime=true and loc=UTC whatever they say, because the log stores UTC
// timestamps and scans them into time.Time.
func ParseDSN(dsn string) (DSN, error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return DSN{}, fmt.Errorf("empty database DSN (flag --db / --store or its DATALAB_* variable): %s", acceptedForms)
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && !strings.HasPrefix(dsn, "sqlite://") {
		if !schemeRE.MatchString(scheme) {
			return DSN{}, fmt.Errorf("database DSN has \"://\" but no URL scheme before it: %s", acceptedForms)
		}
		switch strings.ToLower(scheme) {
		case "postgres", "postgresql":
			return parsePostgresURL(dsn)
		case "mysql":
			return parseMySQL(dsn, "mysql://")
		case "mongodb", "mongodb+srv":
			return parseMongoURI(dsn, scheme)
		}
		return DSN{}, fmt.Errorf("database DSN scheme %q is not supported: %s", scheme, acceptedForms)
	}
	switch {
	case kvKeyRE.MatchString(dsn):
		return parseKeywordValue(dsn)
	case isMySQLNative(dsn):
		return parseMySQL(dsn, "")
	}
	return parseSQLite(dsn)
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

// parseMySQL reads go-sql-driver's DSN, after prefix ("mysql://" or "").
func parseMySQL(dsn, prefix string) (DSN, error) {
	raw := strings.TrimPrefix(dsn, prefix)
	cfg, err := mysql.ParseDSN(raw)
	if err != nil {
		// The driver's message may quote parts of the input: scrub what
		// could be the password (between the first ':' and the last '@').
		return DSN{}, fmt.Errorf("parse MySQL DSN: %s (%s)", scrubText(err.Error(), mysqlSuspects(raw)), acceptedForms)
	}
	if strings.HasPrefix(cfg.Net, "tcp") {
		// go-sql-driver appends :3306 to an address it cannot split, which
		// would turn a malformed address into a different one.
		if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
			return DSN{}, fmt.Errorf("parse MySQL DSN: the address in tcp(…) is not host or host:port (%s)", acceptedForms)
		}
	}
	red := cfg.Clone()
	if red.Passwd != "" {
		red.Passwd = redactedSecret
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	return DSN{Dialect: MySQL, driver: "mysql", conn: cfg.FormatDSN(),
		redacted: prefix + red.FormatDSN(), secrets: nonEmpty(cfg.Passwd)}, nil
}

// mysqlSuspects are the substrings of an unparsable go-sql-driver DSN that
// may be its password.
func mysqlSuspects(raw string) []string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return nil
	}
	_, pass, ok := strings.Cut(raw[:at], ":")
	if !ok {
		return nil
	}
	return nonEmpty(pass, raw[:at])
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// errUnencoded is the refusal of a URL whose user info does not parse.
func errUnencoded(kind string) error {
	return fmt.Errorf("%s URL does not parse: percent-encode special characters (/ # ? @ : %% space) in the user name and password, e.g. / as %%2F", kind)
}

// secretAssignRE finds a secret-looking key=… inside a value.
var secretAssignRE = regexp.MustCompile(`(?i)(pass|secret|token|credential)[a-z0-9_]*\s*=`)

// isSecretParam reports whether a URL query parameter or key=value key
// carries a secret. It matches by substring (password, sslpassword,
// tlsCertificateKeyFilePassword, a mistyped ?password, …): hiding a
// harmless value costs less than showing a secret one.
func isSecretParam(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"pass", "secret", "token", "credential", "authmechanismproperties"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// redactQuery hides secret parameters' values in a raw query and lists
// them. A query that does not parse is refused: a secret could be anywhere.
func redactQuery(raw, kind string) (string, []string, error) {
	if raw == "" {
		return "", nil, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%s URL query does not parse: percent-encode '%%', '&' and '=' in option values", kind)
	}
	var secrets []string
	changed := false
	for k, vs := range q {
		if !queryKeyRE.MatchString(k) {
			// Not an option name: most likely part of a password whose '?'
			// or '/' was not encoded.
			return "", nil, fmt.Errorf("%s URL query has a parameter that is not a name=value option: percent-encode special characters (? / # @ :) in the user name and password", kind)
		}
		if isSecretParam(k) {
			for _, v := range vs {
				secrets = append(secrets, v, url.QueryEscape(v))
			}
			q[k] = []string{redactedSecret}
			changed = true
		}
	}
	if !changed {
		return raw, nil, nil
	}
	return q.Encode(), secrets, nil
}

// userSecrets lists the password of u in the forms a message may quote it.
func userSecrets(u *url.Userinfo) []string {
	if u == nil {
		return nil
	}
	p, ok := u.Password()
	if !ok || p == "" {
		return nil
	}
	return []string{p, url.PathEscape(p), url.QueryEscape(p), url.UserPassword("", p).String()[1:]}
}

// parsePostgresURL reads postgres://… as pgx does (net/url), refusing what
// net/url would read differently from what the user meant: an '@' left in
// the path or a fragment is the sign of an unencoded '/' or '#' in the
// password.
func parsePostgresURL(dsn string) (DSN, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Fragment != "" || u.RawFragment != "" || strings.Contains(dsn, "#") ||
		strings.Contains(u.Path, "@") || strings.Contains(u.Host, "@") || u.Opaque != "" ||
		(u.Host == "" && u.User == nil && strings.Contains(u.RawQuery, "@")) {
		return DSN{}, errUnencoded("postgres")
	}
	query, secrets, err := redactQuery(u.RawQuery, "postgres")
	if err != nil {
		return DSN{}, err
	}
	secrets = append(secrets, userSecrets(u.User)...)
	red := *u
	if _, has := u.User.Password(); has {
		red.User = url.UserPassword(u.User.Username(), redactedSecret)
	}
	red.RawQuery = query
	out := red.String()
	if !strings.HasPrefix(out, u.Scheme+"://") { // net/url drops "//" when host and path are empty
		out = u.Scheme + "://" + strings.TrimPrefix(out, u.Scheme+":")
	}
	return DSN{Dialect: Postgres, driver: "pgx", conn: dsn, redacted: out, secrets: secrets}, nil
}

// parseMongoURI reads mongodb:// and mongodb+srv:// as the Go driver splits
// them: the host list ends at the first '/' or '?', the user info is before
// its last '@' and percent-encoded. net/url cannot read host lists such as
// h1:27017,h2.
func parseMongoURI(dsn, scheme string) (DSN, error) {
	rest := dsn[len(scheme)+len("://"):]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(tail, "@") || strings.Contains(tail, "#") || strings.ContainsAny(dsn, " \t\r\n") {
		return DSN{}, errUnencoded("mongodb")
	}
	d := DSN{Dialect: MongoDB, conn: dsn}
	userinfo := ""
	hosts := authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hosts = authority[:at], authority[at+1:]
		rawUser, rawPass, hasPass := strings.Cut(userinfo, ":")
		user, uerr := url.PathUnescape(rawUser)
		pass, perr := url.PathUnescape(rawPass)
		if uerr != nil || perr != nil || strings.ContainsAny(rawPass, ":@/") || strings.ContainsAny(rawUser, "@/") {
			return DSN{}, errUnencoded("mongodb")
		}
		if hasPass {
			userinfo = url.UserPassword(user, redactedSecret).String() + "@"
			d.secrets = nonEmpty(pass, rawPass, url.QueryEscape(pass))
		} else {
			userinfo = url.User(user).String() + "@"
		}
	}
	if hosts == "" {
		return DSN{}, fmt.Errorf("mongodb URL names no host: write mongodb://host:27017/database")
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	db, err := url.PathUnescape(strings.TrimPrefix(path, "/"))
	if err != nil || strings.Contains(db, "/") {
		return DSN{}, errUnencoded("mongodb")
	}
	query, secrets, err := redactQuery(rawQuery, "mongodb")
	if err != nil {
		return DSN{}, err
	}
	d.database = db
	d.secrets = append(d.secrets, secrets...)
	d.redacted = scheme + "://" + userinfo + hosts + path
	if query != "" {
		d.redacted += "?" + query
	}
	return d, nil
}

// pgConnectKeys are the libpq keys that say where to connect: a key=value
// DSN must name one, or it is more likely a mistyped file name.
var pgConnectKeys = []string{"host", "hostaddr", "port", "dbname", "user", "service"}

// pgKeywords are libpq's connection keywords and pgx's own settings, whose
// values Redact shows (the password ones aside). Any other key's value is
// redacted.
var pgKeywords = []string{
	"host", "hostaddr", "port", "dbname", "user", "passfile", "channel_binding", "connect_timeout",
	"client_encoding", "options", "application_name", "fallback_application_name", "keepalives",
	"keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
	"gssencmode", "sslmode", "requiressl", "sslcompression", "sslcert", "sslkey", "sslcertmode",
	"sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
	"ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
	"target_session_attrs", "load_balance_hosts",
	"pool_max_conns", "pool_min_conns", "pool_min_idle_conns", "pool_max_conn_lifetime",
	"pool_max_conn_lifetime_jitter", "pool_max_conn_idle_time", "pool_health_check_period",
	"statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode",
	"min_read_buffer_size",
}

// kvPair is one setting of a libpq key=value DSN.
type kvPair struct{ key, value string }

// parseKeywordValue reads a libpq key=value DSN (host=db user=x
// password='a b' dbname=z) as pgx does: whitespace-separated pairs, values
// optionally single-quoted, backslash escapes. pgx receives it unchanged.
func parseKeywordValue(dsn string) (DSN, error) {
	pairs, err := splitKeywordValue(dsn)
	if err != nil {
		return DSN{}, fmt.Errorf("key=value (libpq) DSN: %w; quote values with spaces or quotes (password='a b', \\' for a quote)", err)
	}
	d := DSN{Dialect: Postgres, driver: "pgx", conn: dsn}
	connects := false
	var b strings.Builder
	for i, p := range pairs {
		if slices.Contains(pgConnectKeys, p.key) {
			connects = true
		}
		v := kvQuoted(p.value)
		if isSecretParam(p.key) {
			d.secrets = append(d.secrets, p.value, v)
			v = redactedSecret
		} else if !slices.Contains(pgKeywords, p.key) {
			// Not a libpq keyword: pgx sends it to the server as a run-time
			// parameter, and it may be the rest of an unquoted password
			// with a space (password=ab cd=ef reads as password=ab and
			// cd=ef). Its value is not shown.
			v = redactedSecret
		} else if secretAssignRE.MatchString(p.value) {
			// host=' password=x user=' is one quoted host value to libpq,
			// but it is a misquoted DSN with a password in it, and printing
			// the host would print the password.
			return DSN{}, fmt.Errorf("key=value (libpq) DSN: the value of %s holds a password-like key=value: check the quotes (password='a b', \\' for a quote)", p.key)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.key + "=" + v)
	}
	if !connects {
		return DSN{}, fmt.Errorf("key=value (libpq) DSN names no host, hostaddr, port, dbname, user or service; for a SQLite file name containing '=' write sqlite:///path (%s)", acceptedForms)
	}
	d.redacted = b.String()
	return d, nil
}

// splitKeywordValue splits libpq's key=value syntax. Its errors never quote
// the input.
func splitKeywordValue(s string) ([]kvPair, error) {
	var pairs []kvPair
	i := 0
	skipSpace := func() {
		for i < len(s) && isKVSpace(s[i]) {
			i++
		}
	}
	for {
		skipSpace()
		if i == len(s) {
			return pairs, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isKVSpace(s[i]) {
			i++
		}
		key := s[start:i]
		skipSpace()
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("setting #%d is not key=value", len(pairs)+1)
		}
		if !kvKeyRE.MatchString(key + "=") {
			return nil, fmt.Errorf("setting #%d: a key is letters, digits and '_'", len(pairs)+1)
		}
		i++ // '='
		if i < len(s) && isKVSpace(s[i]) {
			// libpq would take the next word, e.g. "password=…", as this
			// key's value: refuse rather than misread a password as a host.
			return nil, fmt.Errorf("the value of %s is empty or set apart from '=' by spaces: write %s='' for an empty value", key, key)
		}
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					v.WriteByte(s[i])
					i++
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("the value of %s has no closing quote", key)
			}
			if i < len(s) && !isKVSpace(s[i]) {
				return nil, fmt.Errorf("the value of %s goes on after its closing quote", key)
			}
		} else {
			for i < len(s) && !isKVSpace(s[i]) {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					c = s[i]
					i++
				}
				v.WriteByte(c)
			}
		}
		pairs = append(pairs, kvPair{key, v.String()})
	}
}

func isKVSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// kvQuoted writes a key=value value so that splitKeywordValue reads it back.
func kvQuoted(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r\f\v'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// sqlitePragmas are appended to every SQLite DSN (modernc.org/sqlite syntax).
// _txlock=immediate makes concurrent writers wait for the lock (busy
// timeout) instead of failing a deferred transaction's upgrade.
// temp_store(memory) keeps statement journals (every multi-row INSERT and
// upsert of the prediction log writes one) and the small sorts of the
// dashboard queries in memory: in a temporary file each journal page was a
// write system call (13% of the log writer's CPU samples in a profile of
// 800-row batches, 4% in memory).
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(memory)&_time_format=sqlite&_txlock=immediate"

func parseSQLite(dsn string) (DSN, error) {
	path := dsn
	explicit := false
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(path, p) {
			path, explicit = strings.TrimPrefix(path, p), true
			break
		}
	}
	query := ""
	if p, q, ok := strings.Cut(path, "?"); ok {
		path, query = p, q
	}
	if path == "" {
		return DSN{}, fmt.Errorf("SQLite DSN names no file: %s", acceptedForms)
	}
	if !explicit && strings.ContainsAny(path, " \t\r\n\f\v:@=[]") {
		return DSN{}, fmt.Errorf("database DSN is ambiguous: it is no URL, key=value list or go-sql-driver DSN, and as a SQLite file name it contains whitespace, ':', '@', '=' or brackets (for such a file write sqlite:///path); %s", acceptedForms)
	}
	// The query is driver options (_pragma=…); anything else there — a
	// stray "?" followed by words — may be a password pasted in the wrong
	// place, so it is refused, and a secret-looking option is hidden.
	redacted := dsn
	params := sqlitePragmas
	if query != "" {
		rq, _, err := redactQuery(query, "SQLite")
		if err != nil {
			return DSN{}, err
		}
		redacted = dsn[:len(dsn)-len(query)] + rq
		params = query + "&" + params
	}
	return DSN{Dialect: SQLite, driver: "sqlite", conn: "file:" + path + "?" + params, path: path, redacted: redacted}, nil
}

// DialectOf reports which SQL database dsn names (the forms ParseDSN
// accepts); a MongoDB URI is an error, as it names no SQL database.
func DialectOf(dsn string) (Dialect, error) {
	d, err := ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	if d.Dialect == MongoDB {
		return "", errNotSQL
	}
	return d.Dialect, nil
}

var errNotSQL = errors.New("a mongodb:// URI names no SQL database: use a SQLite file path, postgres://, key=value or mysql:// here")

// OpenDB connects to the database dsn names with the pool settings every
// datalab SQL store shares, creating a SQLite file's directory, and checks
// that the server answers. what names the store in errors ("prediction
// log", "flight store"); errors never contain the DSN's password. Stores
// run their own migrations on the handle.
func OpenDB(ctx context.Context, dsn, what string) (*sql.DB, Dialect, error) {
	t, err := ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	if t.Dialect == MongoDB {
		return nil, "", fmt.Errorf("%s: %w", what, errNotSQL)
	}
	if t.Dialect == SQLite {
		if dir := filepath.Dir(t.path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, "", fmt.Errorf("%s: create directory for %s: %w", what, t.path, err)
			}
		}
	}
	db, err := sql.Open(t.driver, t.conn)
	if err != nil {
		return nil, "", fmt.Errorf("open %s %s: %w", what, t, t.Scrub(err))
	}
	switch t.Dialect {
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
		return nil, "", fmt.Errorf("connect to %s %s: %w", what, t, t.Scrub(err))
	}
	return db, t.Dialect, nil
}

// Redact returns dsn with every password replaced by "xxxxx", for logs and
// error messages. It renders the parsed DSN (ParseDSN) rather than editing
// the input, and returns RedactedDSN for anything ParseDSN refuses, so no
// input can make it return a password.
func Redact(dsn string) string {
	d, err := ParseDSN(dsn)
	if err != nil {
		return RedactedDSN
	}
	return d.String()
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
