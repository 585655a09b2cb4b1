// Package sqlstore is the flightstore.Store on SQL databases: SQLite
// (modernc.org/sqlite, pure Go, the default), PostgreSQL (pgx) and
// MariaDB/MySQL (go-sql-driver/mysql), chosen by the DSN.
//
// One table, flight_delay_classification_response, holds a row per request
// id: issued_at is set when the web app issues the id, the seed's document
// fields (snake_case columns) and stored_at when the predictor upserts the
// prediction. Upsert stores only what flightstore.Policy admits, reading
// the rows of the batch in the same transaction (locked FOR UPDATE on
// PostgreSQL and MariaDB; SQLite transactions take the write lock at
// BEGIN). Pending rows older than the TTL are deleted in batches of
// CleanupBatch by a background loop (and RemoveExpired), through an index
// on (stored_at, issued_at). A small versioned migration (flight_store_migrations) creates
// it. Connecting (DSN forms, drivers, pool, SQLite pragmas) is
// pipeline/sqldb's OpenDB, shared with the match prediction log.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// Dialect is the SQL flavour in use (the DSN rules, drivers and pool
// settings are pipeline/sqldb's, shared with the match prediction log).
type Dialect = sqldb.Dialect

// The supported databases.
const (
	SQLite   = sqldb.SQLite
	Postgres = sqldb.Postgres
	MySQL    = sqldb.MySQL
)

// Table is the prediction table's name (the seed's MongoDB collection).
const Table = "flight_delay_classification_response"

// MigrationsTable records the applied migrations.
const MigrationsTable = "flight_store_migrations"

// Store is a flightstore.Store over database/sql.
type Store struct {
	db      *sql.DB
	dialect Dialect
	// table and migrations are Table and MigrationsTable, prefixed.
	table, migrations string
	// upsertPrefix, upsertRow and upsertSuffix build the multi-row upsert.
	upsertSQL func(n int) string
	issueSQL  string
	getSQL    string
	heldSQL   func(n int) string
	removeSQL string
	// policy decides which answers Upsert stores and when pending ids expire.
	policy flightstore.Policy
	// stopCleanup ends the background expiry cleanup.
	stopCleanup func()
}

var _ flightstore.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store) error

// WithTablePrefix prefixes the store's table names, so several stores can
// share one database — tests use it to stay apart from each other. The
// prefix must pass sqldb.CheckTablePrefix and keep the names within
// PostgreSQL's 63 characters.
func WithTablePrefix(prefix string) Option {
	return func(s *Store) error {
		if err := sqldb.CheckTablePrefix(prefix); err != nil {
			return err
		}
		if n := len(prefix + Table + "_pkey"); n > 63 {
			return fmt.Errorf("table prefix %q: %s%s_pkey would be %d characters, PostgreSQL keeps 63", prefix, prefix, Table, n)
		}
		s.table, s.migrations = prefix+Table, prefix+MigrationsTable
		return nil
	}
}

// WithPolicy sets which answers the store records and when pending ids
// expire (flightstore.Policy; the zero Policy is the default).
func WithPolicy(p flightstore.Policy) Option {
	return func(s *Store) error {
		s.policy = p
		return nil
	}
}

// Open connects to dsn — a SQLite file path (default), postgres://… or
// mysql://… as pipeline/sqldb.OpenDB reads it — and applies the migrations.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	s := &Store{table: Table, migrations: MigrationsTable}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	db, dialect, err := sqldb.OpenDB(ctx, dsn, "flight store")
	if err != nil {
		return nil, err
	}
	s.db, s.dialect = db, dialect
	s.prepareSQL()
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s.stopCleanup = flightstore.StartCleanup(s.policy, s.table, s.RemoveExpired)
	return s, nil
}

// Dialect is the database in use.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB is the underlying pool (for tests and operations).
func (s *Store) DB() *sql.DB { return s.db }

// Table is the prediction table's name: Table with the prefix, if any.
func (s *Store) Table() string { return s.table }

// Close stops the background cleanup and closes the pool.
func (s *Store) Close() error {
	if s.stopCleanup != nil {
		s.stopCleanup()
	}
	return s.db.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// docColumns are the document's columns in insert order.
var docColumns = []string{"origin", "day_of_week", "day_of_year", "day_of_month", "dest", "dep_delay",
	"request_timestamp", "flight_date", "carrier", "distance", "route", "prediction",
	"prediction_label", "probability", "model", "stored_at"}

// migrations are applied in order, each once; never edit an applied one.
var migrations = []struct {
	version int
	stmts   func(d Dialect, table string) []string
}{
	{1, func(d Dialect, table string) []string {
		text, float, ts := "TEXT", "DOUBLE PRECISION", "TIMESTAMP"
		key := "VARCHAR(36) PRIMARY KEY"
		if d == MySQL {
			text, ts = "VARCHAR(255)", "DATETIME(6)"
		}
		if d == SQLite {
			float = "REAL"
		}
		probability := text
		if d == MySQL {
			probability = "TEXT"
		}
		return []string{`CREATE TABLE ` + table + ` (
	uuid ` + key + `,
	issued_at ` + ts + ` NULL,
	stored_at ` + ts + ` NULL,
	origin ` + text + ` NULL,
	dest ` + text + ` NULL,
	carrier ` + text + ` NULL,
	route ` + text + ` NULL,
	flight_date ` + text + ` NULL,
	request_timestamp ` + text + ` NULL,
	dep_delay ` + float + ` NULL,
	distance ` + float + ` NULL,
	day_of_week INTEGER NULL,
	day_of_year INTEGER NULL,
	day_of_month INTEGER NULL,
	prediction INTEGER NULL,
	prediction_label ` + text + ` NULL,
	probability ` + probability + ` NULL,
	model ` + text + ` NULL
)`}
	}},
	// The cleanup's index: pending rows (stored_at IS NULL) by issue time.
	// A composite index, not a partial one, because MariaDB has none.
	{2, func(d Dialect, table string) []string {
		return []string{`CREATE INDEX ` + pendingIndex(table) + ` ON ` + table + ` (stored_at, issued_at)`}
	}},
}

// pendingIndex names the cleanup index of table: its prefix (index names
// are per schema in PostgreSQL) and a fixed name short enough for any
// prefix WithTablePrefix accepts.
func pendingIndex(table string) string {
	return strings.TrimSuffix(table, Table) + "flight_store_pending_idx"
}

// migrate creates the migration table and applies what is missing, each
// migration in its own transaction that first checks the version is still
// missing, all under the migration lock shared with the prediction log
// (sqldb.WithMigrationLock): replicas starting together on an empty
// database migrate one after the other.
func (s *Store) migrate(ctx context.Context) error {
	return sqldb.WithMigrationLock(ctx, s.db, s.dialect, func(ctx context.Context, conn *sql.Conn) error {
		ts := "TIMESTAMP"
		if s.dialect == MySQL {
			ts = "DATETIME(6)"
		}
		if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.migrations+` (version INTEGER PRIMARY KEY, applied_at `+ts+` NOT NULL)`); err != nil {
			return fmt.Errorf("create %s: %w", s.migrations, err)
		}
		for _, m := range migrations {
			if err := s.apply(ctx, conn, m.version, m.stmts(s.dialect, s.table)); err != nil {
				return fmt.Errorf("flight store migration %d: %w", m.version, err)
			}
		}
		return nil
	})
}

// apply runs one migration's statements and records its version, in one
// transaction on conn, unless the version is recorded already.
func (s *Store) apply(ctx context.Context, conn *sql.Conn, version int, stmts []string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM `+s.migrations+` WHERE version = ?`), version).Scan(&n); err != nil {
		return fmt.Errorf("read %s: %w", s.migrations, err)
	}
	if n > 0 {
		return nil
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO `+s.migrations+` (version, applied_at) VALUES (?, ?)`), version, time.Now().UTC()); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return tx.Commit()
}

// rebind adapts q's placeholders to the store's dialect.
func (s *Store) rebind(q string) string { return sqldb.Rebind(s.dialect, q) }

func (s *Store) prepareSQL() {
	cols := append([]string{"uuid"}, docColumns...)
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var conflict string
	switch s.dialect {
	case MySQL:
		sets := make([]string, len(docColumns))
		for i, c := range docColumns {
			sets[i] = c + " = VALUES(" + c + ")"
		}
		conflict = " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
		s.issueSQL = `INSERT IGNORE INTO ` + s.table + ` (uuid, issued_at) VALUES (?, ?)`
	default:
		sets := make([]string, len(docColumns))
		for i, c := range docColumns {
			sets[i] = c + " = excluded." + c
		}
		conflict = " ON CONFLICT (uuid) DO UPDATE SET " + strings.Join(sets, ", ")
		s.issueSQL = s.rebind(`INSERT INTO ` + s.table + ` (uuid, issued_at) VALUES (?, ?) ON CONFLICT (uuid) DO NOTHING`)
	}
	head := `INSERT INTO ` + s.table + ` (` + strings.Join(cols, ", ") + `) VALUES `
	s.upsertSQL = func(n int) string {
		rows := make([]string, n)
		for i := range rows {
			rows[i] = row
		}
		return s.rebind(head + strings.Join(rows, ", ") + conflict)
	}
	sel := `SELECT ` + heldColumns + ` FROM ` + s.table + ` WHERE uuid `
	s.getSQL = s.rebind(sel + `= ?`)
	lock := ""
	if s.dialect != SQLite {
		lock = " FOR UPDATE"
	}
	s.heldSQL = func(n int) string {
		return s.rebind(sel + `IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)` + lock)
	}
	// MariaDB has DELETE … LIMIT but no LIMIT in an IN subquery; SQLite
	// (as built) and PostgreSQL have the opposite.
	if s.dialect == MySQL {
		s.removeSQL = `DELETE FROM ` + s.table + ` WHERE stored_at IS NULL AND issued_at < ? LIMIT ` + fmt.Sprint(CleanupBatch)
	} else {
		s.removeSQL = s.rebind(`DELETE FROM ` + s.table + ` WHERE uuid IN (SELECT uuid FROM ` + s.table +
			` WHERE stored_at IS NULL AND issued_at < ? LIMIT ` + fmt.Sprint(CleanupBatch) + `)`)
	}
}

// heldColumns are what Get and Upsert read of a row; scanHeld reads them.
var heldColumns = `uuid, issued_at, stored_at IS NOT NULL, ` + strings.Join(docColumns[:len(docColumns)-1], ", ")

// scanHeld reads one row of heldColumns into what the store holds for its id.
func scanHeld(row interface{ Scan(...any) error }) (flightstore.Held, error) {
	var (
		id                                     string
		issued                                 sql.NullTime
		done                                   bool
		origin, dest, carrier, route, date, ts sql.NullString
		label, prob, model                     sql.NullString
		dep, dist                              sql.NullFloat64
		dow, doy, dom, pred                    sql.NullInt64
	)
	if err := row.Scan(&id, &issued, &done, &origin, &dow, &doy, &dom, &dest, &dep,
		&ts, &date, &carrier, &dist, &route, &pred, &label, &prob, &model); err != nil {
		return flightstore.Held{}, err
	}
	if !done {
		return flightstore.Held{Status: flightstore.Pending, IssuedAt: issued.Time, Doc: flightdelay.Prediction{UUID: id}}, nil
	}
	d := flightdelay.Prediction{
		Origin: origin.String, DayOfWeek: int(dow.Int64), DayOfYear: int(doy.Int64), DayOfMonth: int(dom.Int64),
		Dest: dest.String, DepDelay: dep.Float64, Timestamp: ts.String, FlightDate: date.String,
		Carrier: carrier.String, UUID: id, Distance: dist.Float64, Route: route.String,
		Prediction: int(pred.Int64), PredictionLabel: label.String, Model: model.String,
	}
	if prob.Valid && prob.String != "" {
		if err := json.Unmarshal([]byte(prob.String), &d.Probability); err != nil {
			return flightstore.Held{}, fmt.Errorf("prediction %s: probability column: %w", id, err)
		}
	}
	return flightstore.Held{Status: flightstore.Done, IssuedAt: issued.Time, Doc: d}, nil
}

// Issue implements flightstore.Store.
func (s *Store) Issue(ctx context.Context, id string, at time.Time) error {
	if id == "" {
		return flightstore.ErrEmptyID
	}
	if _, err := s.db.ExecContext(ctx, s.issueSQL, id, at.UTC()); err != nil {
		return fmt.Errorf("issue request %s: %w", id, err)
	}
	return nil
}

// upsertChunk bounds the rows of one INSERT (PostgreSQL allows 65535
// parameters, SQLite 32766; 17 per row).
const upsertChunk = 500

// Upsert implements flightstore.Store: one transaction that reads the
// batch's rows (locking them), applies the policy to each answer, and
// writes the admitted ones with multi-row upserts, all in UUID order
// (concurrent writers lock rows in the same order); retried a few times
// when the database reports a deadlock or serialization failure between
// concurrent batches. Refused answers (ErrNotIssued, ErrAnswered) are not
// retried.
func (s *Store) Upsert(ctx context.Context, docs ...flightdelay.Prediction) error {
	if len(docs) == 0 {
		return nil
	}
	docs = lastPerUUID(docs)
	slices.SortFunc(docs, func(a, b flightdelay.Prediction) int { return strings.Compare(a.UUID, b.UUID) })
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.upsert(ctx, docs); err == nil || !transient(err) {
			return flightstore.PermanentIf(err, dataError)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

// transient reports a deadlock or serialization failure: MySQL/MariaDB
// 1213 and 1205, PostgreSQL 40001 and 40P01, SQLite busy.
func transient(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return strings.Contains(err.Error(), "SQLITE_BUSY")
}

// admit reads what the table holds for docs (sorted by UUID, unique) in
// tx and returns those the policy admits, or every refusal joined.
func (s *Store) admit(ctx context.Context, tx *sql.Tx, docs []flightdelay.Prediction) ([]flightdelay.Prediction, error) {
	held := make(map[string]flightstore.Held, len(docs))
	for start := 0; start < len(docs); start += upsertChunk {
		chunk := docs[start:min(start+upsertChunk, len(docs))]
		args := make([]any, len(chunk))
		for i, d := range chunk {
			args[i] = d.UUID
		}
		rows, err := tx.QueryContext(ctx, s.heldSQL(len(chunk)), args...)
		if err != nil {
			return nil, fmt.Errorf("store %d predictions: read their requests: %w", len(docs), err)
		}
		for rows.Next() {
			h, err := scanHeld(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store %d predictions: read their requests: %w", len(docs), err)
			}
			held[h.Doc.UUID] = h
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store %d predictions: read their requests: %w", len(docs), err)
		}
	}
	write := docs[:0:0]
	var refused []error
	for _, d := range docs {
		ok, err := s.policy.Admit(d, held[d.UUID])
		if err != nil {
			refused = append(refused, err)
		} else if ok {
			write = append(write, d)
		}
	}
	if refused != nil {
		return nil, fmt.Errorf("store %d predictions: %d refused: %w", len(docs), len(refused), errors.Join(refused...))
	}
	return write, nil
}

func (s *Store) upsert(ctx context.Context, docs []flightdelay.Prediction) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %d predictions: %w", len(docs), err)
	}
	defer tx.Rollback()
	for _, d := range docs {
		if d.UUID == "" {
			return flightstore.ErrEmptyID
		}
	}
	docs, err = s.admit(ctx, tx, docs)
	if err != nil {
		return err
	}
	now := s.policy.Clock().UTC()
	for start := 0; start < len(docs); start += upsertChunk {
		chunk := docs[start:min(start+upsertChunk, len(docs))]
		args := make([]any, 0, len(chunk)*(len(docColumns)+1))
		for _, d := range chunk {
			prob, err := json.Marshal(d.Probability)
			if err != nil {
				return err
			}
			args = append(args, d.UUID, d.Origin, d.DayOfWeek, d.DayOfYear, d.DayOfMonth, d.Dest, d.DepDelay,
				d.Timestamp, d.FlightDate, d.Carrier, d.Distance, d.Route, d.Prediction,
				d.PredictionLabel, string(prob), d.Model, now)
		}
		if _, err := tx.ExecContext(ctx, s.upsertSQL(len(chunk)), args...); err != nil {
			return fmt.Errorf("store %d predictions: %w", len(docs), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %d predictions: %w", len(docs), err)
	}
	return nil
}

// lastPerUUID keeps the last document of each UUID (a multi-row upsert may
// not touch one row twice in PostgreSQL).
func lastPerUUID(docs []flightdelay.Prediction) []flightdelay.Prediction {
	pos := make(map[string]int, len(docs))
	out := make([]flightdelay.Prediction, 0, len(docs))
	for _, d := range docs {
		if i, ok := pos[d.UUID]; ok {
			out[i] = d
			continue
		}
		pos[d.UUID] = len(out)
		out = append(out, d)
	}
	return out
}

// Get implements flightstore.Store.
func (s *Store) Get(ctx context.Context, id string) (flightdelay.Prediction, flightstore.Status, error) {
	h, err := scanHeld(s.db.QueryRowContext(ctx, s.getSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return flightdelay.Prediction{}, flightstore.Unknown, nil
	}
	if err != nil {
		return flightdelay.Prediction{}, flightstore.Unknown, fmt.Errorf("get prediction %s: %w", id, err)
	}
	if h.Status == flightstore.Pending {
		return flightdelay.Prediction{}, s.policy.PendingStatus(h.IssuedAt), nil
	}
	return h.Doc, flightstore.Done, nil
}

// CleanupBatch bounds the rows one cleanup DELETE removes, so the cleanup
// never holds locks on a large part of the table at once.
const CleanupBatch = 1000

// RemoveExpired deletes the pending rows issued before the policy's cutoff,
// CleanupBatch rows per statement until none is left, and returns how many
// it deleted. Answered rows are kept. It does nothing when ids never expire.
func (s *Store) RemoveExpired(ctx context.Context) (int64, error) {
	cutoff := s.policy.Cutoff()
	if cutoff.IsZero() {
		return 0, nil
	}
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.removeSQL, cutoff.UTC())
		if err != nil {
			return total, fmt.Errorf("remove expired requests: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("remove expired requests: %w", err)
		}
		total += n
		if n < CleanupBatch {
			return total, nil
		}
	}
}

// PendingCount is the number of issued ids without an answer, expired or
// not, still in the table.
func (s *Store) PendingCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+s.table+` WHERE stored_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending requests: %w", err)
	}
	return n, nil
}

// Count implements flightstore.Store.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+s.table+` WHERE stored_at IS NOT NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count predictions: %w", err)
	}
	return n, nil
}

// window is the WHERE clause of a Window's stored predictions and its
// arguments.
func (s *Store) window(w flightstore.Window) (string, []any) {
	where, args := ` WHERE stored_at IS NOT NULL`, []any(nil)
	if !w.Since.IsZero() {
		where, args = where+` AND stored_at >= ?`, append(args, w.Since.UTC())
	}
	if !w.Until.IsZero() {
		where, args = where+` AND stored_at < ?`, append(args, w.Until.UTC())
	}
	if w.Model != "" {
		where, args = where+` AND model = ?`, append(args, w.Model)
	}
	return s.rebind(where), args
}

// Scan implements flightstore.Store: one query ordered by (stored_at,
// uuid), through the cleanup index whose first column is stored_at, read
// row by row on a sqldb.ScanConn.
func (s *Store) Scan(ctx context.Context, w flightstore.Window, fn func(*flightstore.Stored) error) error {
	where, args := s.window(w)
	conn, release, err := sqldb.ScanConn(ctx, s.db, s.dialect)
	if err != nil {
		return fmt.Errorf("scan stored predictions: %w", err)
	}
	defer release()
	rows, err := conn.QueryContext(ctx, `SELECT stored_at, `+heldColumns+` FROM `+s.table+where+` ORDER BY stored_at, uuid`, args...)
	if err != nil {
		return fmt.Errorf("scan stored predictions: %w", err)
	}
	defer rows.Close()
	var st flightstore.Stored
	for rows.Next() {
		h, err := scanHeld(storedAtFirst{rows, &st.StoredAt})
		if err != nil {
			return fmt.Errorf("scan stored predictions: %w", err)
		}
		st.Prediction, st.StoredAt = h.Doc, st.StoredAt.UTC()
		if err := fn(&st); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan stored predictions: %w", err)
	}
	return nil
}

// storedAtFirst scans a row of stored_at followed by heldColumns: stored_at
// into at, the rest where scanHeld asks.
type storedAtFirst struct {
	rows *sql.Rows
	at   *time.Time
}

func (r storedAtFirst) Scan(dest ...any) error {
	return r.rows.Scan(append([]any{r.at}, dest...)...)
}

// Models implements flightstore.Store.
func (s *Store) Models(ctx context.Context, w flightstore.Window) ([]flightstore.ModelCount, error) {
	w.Model = ""
	where, args := s.window(w)
	rows, err := s.db.QueryContext(ctx, `SELECT COALESCE(model, ''), COUNT(*) FROM `+s.table+where+` GROUP BY model`, args...)
	if err != nil {
		return nil, fmt.Errorf("count stored predictions by model: %w", err)
	}
	defer rows.Close()
	var out []flightstore.ModelCount
	for rows.Next() {
		var c flightstore.ModelCount
		if err := rows.Scan(&c.Model, &c.Count); err != nil {
			return nil, fmt.Errorf("count stored predictions by model: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count stored predictions by model: %w", err)
	}
	flightstore.SortModelCounts(out)
	return out, nil
}
