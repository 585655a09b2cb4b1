// Package predlog is the prediction log of the match-winner app: every
// prediction served is stored with its inputs, outcome, probabilities and
// model version, and the usage dashboard is computed from it. It sits at the
// serving end of the flow (matches/matchapp writes and reads it) and
// replaces the seed app's MySQL table interactions(id, localteam, awayteam,
// created_at), which stored the request but not the prediction.
//
// One database/sql implementation serves three databases, chosen by the DSN
// (see Open): SQLite (modernc.org/sqlite, pure Go, the default), PostgreSQL
// (pgx) and MySQL/MariaDB (go-sql-driver/mysql); reading the DSN, the pool
// and the migration lock are pipeline/sqldb's, shared with the flight
// store. Queries are written once with ? placeholders and rebound to $n for
// PostgreSQL (batches of log entries go in with multi-row INSERT, or binary
// COPY on PostgreSQL); the dashboard's time buckets (UTC hour of day, UTC day) are computed in Go at insert time and
// stored as columns, so grouping is plain portable SQL. The dashboard does
// not group the log on each view: the writer keeps its counters in a small
// table in the same transaction as each batch, and Usage reads those (see
// usage.go), so a view costs the same at any size of the log.
//
// Writes go through a Writer: an in-memory bounded buffer drained by one
// goroutine in batches, retried with backoff while the database is
// unavailable, dropping the oldest entries (counted) when full. Serving never
// waits for the database.
//
// Drift monitoring (matches/matchmonitor) reads a time window of the log
// back: Scan streams its rows oldest first, ModelVersions counts them per
// model version (see scan.go).
package predlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// Entry is one logged prediction.
type Entry struct {
	// ID is assigned by the database; zero before the entry is stored.
	ID      int64
	Home    string
	Away    string
	Neutral bool
	// AsOf is the feature date asked for; zero when the model default was used.
	AsOf          time.Time
	Outcome       matchwinner.Outcome
	Winner        string
	Probability   float64
	Probabilities map[matchwinner.Outcome]float64
	Features      map[string]float64
	ModelVersion  string
	Variant       string
	// ClientTime is the time the client says it sent the request; zero when
	// it did not say. It is informational and never trusted for bucketing.
	ClientTime time.Time
	// ServerTime is when the server answered, from the server clock.
	ServerTime time.Time
}

// NewEntry builds the log entry of req answered by p at serverTime.
func NewEntry(req matchwinner.Request, p matchwinner.Prediction, clientTime, serverTime time.Time) Entry {
	return Entry{
		Home:          req.Home,
		Away:          req.Away,
		Neutral:       req.Neutral,
		AsOf:          req.AsOf,
		Outcome:       p.Outcome,
		Winner:        p.Winner,
		Probability:   p.Probability,
		Probabilities: p.Probabilities,
		Features:      p.Features,
		ModelVersion:  p.ModelVersion,
		Variant:       p.Variant,
		ClientTime:    clientTime,
		ServerTime:    serverTime,
	}
}

// Log is an open prediction-log database.
type Log struct {
	db      *sql.DB
	dialect sqldb.Dialect
	table   string
	usage   string // the dashboard's counters (usage.go)
	redDSN  string

	prepMu   sync.Mutex
	prepared *sql.Stmt // INSERT of preparedRows rows, made on first use
}

// Option configures Open.
type Option func(*options) error

type options struct {
	prefix string
}

// WithTablePrefix prefixes the log's table names (match_predictions and
// predlog_migrations), so several logs can share one database — tests use it
// to stay apart from each other. The prefix must pass sqldb.CheckTablePrefix.
func WithTablePrefix(prefix string) Option {
	return func(o *options) error {
		if err := sqldb.CheckTablePrefix(prefix); err != nil {
			return err
		}
		o.prefix = prefix
		return nil
	}
}

// Open connects to the log database named by dsn, creating or upgrading its
// tables. The DSN picks the driver (see the package doc): a file path or
// sqlite://path → SQLite; postgres:// → PostgreSQL; mysql://user:pass@tcp(host)/db
// or go-sql-driver's user:pass@tcp(host)/db → MySQL/MariaDB. Errors never
// contain the DSN's password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Log, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	db, dialect, err := sqldb.OpenDB(ctx, dsn, "prediction log")
	if err != nil {
		return nil, err
	}
	l := &Log{db: db, dialect: dialect, table: o.prefix + "match_predictions", usage: o.prefix + "match_usage", redDSN: sqldb.Redact(dsn)}
	if err := l.migrate(ctx, o.prefix); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate prediction log %s: %w", l.redDSN, err)
	}
	return l, nil
}

// Dialect reports which database the log is in.
func (l *Log) Dialect() sqldb.Dialect { return l.dialect }

// Table is the name of the predictions table.
func (l *Log) Table() string { return l.table }

// UsageTable is the name of the table of the dashboard's counters.
func (l *Log) UsageTable() string { return l.usage }

// replacer expands a migration's or rebuild's {t} (predictions) and {u}
// (usage counters) table placeholders.
func (l *Log) replacer() *strings.Replacer {
	return strings.NewReplacer("{t}", l.table, "{u}", l.usage)
}

// String is the redacted DSN, safe to log.
func (l *Log) String() string { return l.redDSN }

// DB exposes the underlying handle (for ad-hoc queries and tests).
func (l *Log) DB() *sql.DB { return l.db }

// Close closes the database handle. Close a Writer on the log first.
func (l *Log) Close() error {
	l.prepMu.Lock()
	if l.prepared != nil {
		l.prepared.Close()
		l.prepared = nil
	}
	l.prepMu.Unlock()
	return l.db.Close()
}

// rebind adapts q's placeholders to the log's dialect (see Rebind).
func (l *Log) rebind(q string) string { return sqldb.Rebind(l.dialect, q) }

// insertColumns are the columns Insert writes, in order.
const insertColumns = "home, away, neutral, as_of, outcome, winner, probability, probabilities, features, model_version, variant, client_time, server_time, server_day, server_hour"

const insertColumnCount = 15

var insertColumnNames = strings.Split(strings.ReplaceAll(insertColumns, " ", ""), ",")

// maxInsertRows bounds one INSERT statement: 15,000 parameters stays below
// every database's limit (SQLite 32,766; PostgreSQL and MySQL 65,535).
const maxInsertRows = 1000

// preparedRows is the row count of the INSERT statement Insert prepares
// once and reuses for every full chunk: SQLite parses 15 placeholders a row
// each time a statement's text is new, which was about a tenth of the
// writer's time with a fresh statement per batch.
const preparedRows = 64

// insertSQL is the INSERT statement of n rows.
func (l *Log) insertSQL(n int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO " + l.table + " (" + insertColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return l.rebind(q.String())
}

// insertStmt returns the prepared INSERT of preparedRows rows.
func (l *Log) insertStmt(ctx context.Context) (*sql.Stmt, error) {
	l.prepMu.Lock()
	defer l.prepMu.Unlock()
	if l.prepared == nil {
		st, err := l.db.PrepareContext(ctx, l.insertSQL(preparedRows))
		if err != nil {
			return nil, fmt.Errorf("prepare prediction log insert: %w", err)
		}
		l.prepared = st
	}
	return l.prepared, nil
}

// Insert stores entries, and adds them to the dashboard's counters, in one
// transaction. Every value is passed as a query parameter, never spliced
// into SQL text.
func (l *Log) Insert(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if l.dialect == sqldb.Postgres {
		return l.copyPostgres(ctx, entries)
	}
	var full *sql.Stmt // the prepared INSERT, in this transaction
	if len(entries) >= preparedRows {
		st, err := l.insertStmt(ctx)
		if err != nil {
			return err
		}
		full = st
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("insert into prediction log: %w", err)
	}
	defer tx.Rollback()
	if full != nil {
		full = tx.StmtContext(ctx, full)
		defer full.Close()
	}
	var enc rowEncoder
	args := make([]any, 0, min(len(entries), preparedRows)*insertColumnCount)
	for start := 0; start < len(entries); {
		// Full chunks through the prepared statement, the rest (fewer
		// than preparedRows) in one statement of its own.
		n := min(preparedRows, len(entries)-start)
		chunk := entries[start : start+n]
		args = args[:0]
		for i := range chunk {
			if args, err = enc.appendArgs(args, &chunk[i]); err != nil {
				return err
			}
		}
		if n == preparedRows {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, l.insertSQL(n), args...)
		}
		if err != nil {
			return fmt.Errorf("insert %d entries into prediction log: %w", len(chunk), err)
		}
		start += n
	}
	if err := l.addUsage(ctx, func(ctx context.Context, q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}, entries); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit prediction log entries: %w", err)
	}
	return nil
}

// rowEncoder turns entries into the values of insertColumns. It keeps the
// sorted keys of the last probabilities and features it encoded: the
// entries of a batch come from one model and share their keys, so the keys
// are sorted once a batch instead of twice a row.
type rowEncoder struct {
	probKeys, featureKeys []string
	buf                   []byte
}

// appendArgs appends e's values, in insertColumns order, to args.
func (r *rowEncoder) appendArgs(args []any, e *Entry) ([]any, error) {
	var err error
	r.buf, err = appendJSONObject(r.buf[:0], e.Probabilities, &r.probKeys)
	if err != nil {
		return nil, fmt.Errorf("encode probabilities of %s vs %s: %w", e.Home, e.Away, err)
	}
	probs := string(r.buf)
	var features any // NULL when the model reported none
	if len(e.Features) > 0 {
		r.buf, err = appendJSONObject(r.buf[:0], e.Features, &r.featureKeys)
		if err != nil {
			return nil, fmt.Errorf("encode features of %s vs %s: %w", e.Home, e.Away, err)
		}
		features = string(r.buf)
	}
	var asOf any
	if !e.AsOf.IsZero() {
		asOf = e.AsOf.UTC().Format(time.DateOnly)
	}
	var client any
	if !e.ClientTime.IsZero() {
		client = e.ClientTime.UTC()
	}
	st := e.ServerTime.UTC()
	return append(args,
		e.Home, e.Away, e.Neutral, asOf, string(e.Outcome), e.Winner, e.Probability,
		probs, features, e.ModelVersion, e.Variant, client, st,
		st.Format(time.DateOnly), st.Hour(),
	), nil
}

// appendJSONObject appends m as a JSON object with sorted keys and shortest
// round-trip numbers: it decodes to the same map as encoding/json's output,
// several times faster (the writer encodes two maps per logged prediction).
// keys holds the sorted keys of the previous call and is reused when m has
// the same ones. NaN and infinities are errors, as in encoding/json.
func appendJSONObject[K ~string](b []byte, m map[K]float64, keys *[]string) ([]byte, error) {
	if !hasKeys(m, *keys) {
		ks := (*keys)[:0]
		for k := range m {
			ks = append(ks, string(k))
		}
		sort.Strings(ks)
		*keys = ks
	}
	b = append(b, '{')
	for i, k := range *keys {
		v := m[K(k)]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value of %q is %v, which JSON cannot hold", k, v)
		}
		if i > 0 {
			b = append(b, ',')
		}
		if plainKey(k) {
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, '"')
		} else {
			q, err := json.Marshal(k)
			if err != nil {
				return nil, err
			}
			b = append(b, q...)
		}
		b = append(b, ':')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, '}'), nil
}

// hasKeys reports whether keys (distinct) are exactly m's keys.
func hasKeys[K ~string](m map[K]float64, keys []string) bool {
	if len(m) != len(keys) {
		return false
	}
	for _, k := range keys {
		if _, ok := m[K(k)]; !ok {
			return false
		}
	}
	return true
}

// plainKey reports whether k needs no JSON escaping.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// copyPostgres stores entries with PostgreSQL's binary COPY, and adds them
// to the dashboard's counters, in one transaction: far less work for the
// server than a 15,000-parameter INSERT, which matters when the database
// shares the machine with the app.
func (l *Log) copyPostgres(ctx context.Context, entries []Entry) error {
	rows := make([][]any, len(entries))
	var enc rowEncoder
	for i := range entries {
		row, err := enc.appendArgs(make([]any, 0, insertColumnCount), &entries[i])
		if err != nil {
			return err
		}
		row[len(row)-1] = int16(row[len(row)-1].(int)) // server_hour is SMALLINT
		rows[i] = row
	}
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("insert into prediction log: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected PostgreSQL driver connection %T", dc)
		}
		tx, err := c.Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{l.table}, insertColumnNames, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if err := l.addUsage(ctx, func(ctx context.Context, q string, args ...any) error {
			_, err := tx.Exec(ctx, q, args...)
			return err
		}, entries); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return fmt.Errorf("copy %d entries into prediction log: %w", len(entries), err)
	}
	return nil
}

// queryer is a *sql.DB or a *sql.Conn.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// Recent returns the newest n entries, newest first.
func (l *Log) Recent(ctx context.Context, n int) ([]Entry, error) {
	return l.recent(ctx, l.db, n)
}

func (l *Log) recent(ctx context.Context, db queryer, n int) ([]Entry, error) {
	q := l.rebind("SELECT " + entryColumns + " FROM " + l.table + " ORDER BY id DESC LIMIT ?")
	rows, err := db.QueryContext(ctx, q, n)
	if err != nil {
		return nil, fmt.Errorf("read recent predictions: %w", err)
	}
	defer rows.Close()
	var (
		out []Entry
		r   entryReader
	)
	for rows.Next() {
		var e Entry
		if err := r.read(rows, &e, false); err != nil {
			return nil, fmt.Errorf("read recent predictions: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Count is the number of logged predictions. Count, TopTeams, TopMatchups,
// ByHour, ByDay and OutcomeMix scan the whole table: they are the reference
// the counters are tested against and serve ad-hoc use; the dashboard reads
// Usage, whose cost does not grow with the log.
func (l *Log) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := l.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+l.table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count predictions: %w", err)
	}
	return n, nil
}

// Counted is one group of a usage query: a label and how many predictions
// fell in it.
type Counted struct {
	Label string
	Count int64
}

// Matchup is a home/away pair and how often it was asked for.
type Matchup struct {
	Home, Away string
	Count      int64
}

// TopTeams returns the n teams that appear most often, as home or away,
// most requested first; ties are broken by name (byte order) so every
// database gives the same answer.
func (l *Log) TopTeams(ctx context.Context, n int) ([]Counted, error) {
	// All groups come back (one per distinct team, a few hundred at most) so
	// that the tie-break is Go's, not the database collation's.
	all, err := l.counted(ctx, "top teams",
		"SELECT team, COUNT(*) FROM (SELECT home AS team FROM "+l.table+" UNION ALL SELECT away AS team FROM "+l.table+") t GROUP BY team")
	if err != nil {
		return nil, err
	}
	sortCounted(all)
	return all[:min(n, len(all))], nil
}

// TopMatchups returns the n most requested home/away pairs, most requested
// first, ties broken by home then away name (byte order).
func (l *Log) TopMatchups(ctx context.Context, n int) ([]Matchup, error) {
	rows, err := l.db.QueryContext(ctx, "SELECT home, away, COUNT(*) FROM "+l.table+" GROUP BY home, away")
	if err != nil {
		return nil, fmt.Errorf("top match-ups: %w", err)
	}
	defer rows.Close()
	var out []Matchup
	for rows.Next() {
		var m Matchup
		if err := rows.Scan(&m.Home, &m.Away, &m.Count); err != nil {
			return nil, fmt.Errorf("top match-ups: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("top match-ups: %w", err)
	}
	sortMatchups(out)
	return out[:min(n, len(out))], nil
}

// sortMatchups orders most requested first, ties by home then away name
// (byte order).
func sortMatchups(out []Matchup) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Home != b.Home {
			return a.Home < b.Home
		}
		return a.Away < b.Away
	})
}

// ByHour returns 24 counts, one per UTC hour of day (index = hour).
func (l *Log) ByHour(ctx context.Context) ([24]int64, error) {
	var out [24]int64
	rows, err := l.db.QueryContext(ctx, "SELECT server_hour, COUNT(*) FROM "+l.table+" GROUP BY server_hour")
	if err != nil {
		return out, fmt.Errorf("predictions by hour: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, c int64
		if err := rows.Scan(&h, &c); err != nil {
			return out, fmt.Errorf("predictions by hour: %w", err)
		}
		if h < 0 || h > 23 {
			return out, fmt.Errorf("predictions by hour: stored hour %d outside 0–23", h)
		}
		out[h] = c
	}
	return out, rows.Err()
}

// ByDay returns the count per UTC day (YYYY-MM-DD) of the last days days
// that have predictions, oldest first.
func (l *Log) ByDay(ctx context.Context, days int) ([]Counted, error) {
	all, err := l.counted(ctx, "predictions by day", "SELECT server_day, COUNT(*) FROM "+l.table+" GROUP BY server_day")
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Label < all[j].Label })
	if len(all) > days {
		all = all[len(all)-days:]
	}
	return all, nil
}

// OutcomeMix returns how many predictions had each outcome, most frequent
// first.
func (l *Log) OutcomeMix(ctx context.Context) ([]Counted, error) {
	all, err := l.counted(ctx, "outcome mix", "SELECT outcome, COUNT(*) FROM "+l.table+" GROUP BY outcome")
	if err != nil {
		return nil, err
	}
	sortCounted(all)
	return all, nil
}

func (l *Log) counted(ctx context.Context, what, q string) ([]Counted, error) {
	return l.countedOn(ctx, l.db, what, q)
}

// countedOn runs q (with ? placeholders) on db and reads (label, count) rows.
func (l *Log) countedOn(ctx context.Context, db queryer, what, q string, args ...any) ([]Counted, error) {
	rows, err := db.QueryContext(ctx, l.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []Counted
	for rows.Next() {
		var c Counted
		if err := rows.Scan(&c.Label, &c.Count); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func sortCounted(c []Counted) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Count != c[j].Count {
			return c[i].Count > c[j].Count
		}
		return c[i].Label < c[j].Label
	})
}

// ErrClosed is returned by Writer.Close when called twice.
var ErrClosed = errors.New("prediction log writer already closed")
