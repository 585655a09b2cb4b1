package predlog

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/datalabhq/datalab/matches/matchwinner"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// Window selects logged predictions by server time, Since ≤ t < Until (a
// zero bound is open), and by model version when ModelVersion is set. The
// reads of a window (Scan, ModelVersions) go through the index on
// (server_time, model_version, id) of schema version 3.
type Window struct {
	Since, Until time.Time
	ModelVersion string
}

// where is the WHERE clause (with ? placeholders, "" for none) and its
// arguments.
func (w Window) where() (string, []any) {
	var conds []string
	var args []any
	if !w.Since.IsZero() {
		conds, args = append(conds, "server_time >= ?"), append(args, w.Since.UTC())
	}
	if !w.Until.IsZero() {
		conds, args = append(conds, "server_time < ?"), append(args, w.Until.UTC())
	}
	if w.ModelVersion != "" {
		conds, args = append(conds, "model_version = ?"), append(args, w.ModelVersion)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Scan calls fn for every logged prediction in w, oldest first (server
// time, then model version, then id: the index's order), streaming the rows from the database: the log is never
// held in memory. The Entry fn receives, and its Probabilities and
// Features maps, are reused for the next row: fn must copy what it keeps.
// An error from fn stops the scan and is returned as is. fn runs while the
// query holds a connection, so it should not block for long.
func (l *Log) Scan(ctx context.Context, w Window, fn func(*Entry) error) error {
	where, args := w.where()
	conn, release, err := sqldb.ScanConn(ctx, l.db, l.dialect)
	if err != nil {
		return fmt.Errorf("scan prediction log: %w", err)
	}
	defer release()
	rows, err := conn.QueryContext(ctx, l.rebind("SELECT "+entryColumns+" FROM "+l.table+where+" ORDER BY server_time, model_version, id"), args...)
	if err != nil {
		return fmt.Errorf("scan prediction log: %w", err)
	}
	defer rows.Close()
	var (
		r entryReader
		e Entry
	)
	for rows.Next() {
		if err := r.read(rows, &e, true); err != nil {
			return fmt.Errorf("scan prediction log: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan prediction log: %w", err)
	}
	return nil
}

// ModelVersions counts the predictions in w (its ModelVersion ignored) by
// model version, most first, ties by version.
func (l *Log) ModelVersions(ctx context.Context, w Window) ([]Counted, error) {
	w.ModelVersion = ""
	where, args := w.where()
	out, err := l.countedOn(ctx, l.db, "count predictions by model version",
		"SELECT model_version, COUNT(*) FROM "+l.table+where+" GROUP BY model_version", args...)
	if err != nil {
		return nil, err
	}
	sortCounted(out)
	return out, nil
}

// entryColumns are the columns entryReader.read reads, in order.
const entryColumns = "id, home, away, neutral, as_of, outcome, winner, probability, probabilities, features, model_version, variant, client_time, server_time"

// entryReader decodes rows of entryColumns. Its buffers are reused from
// row to row.
type entryReader struct {
	home, away, winner    sql.RawBytes
	asOf, probs, features sql.RawBytes
	outcome, model        sql.RawBytes
	variant               sql.RawBytes
	client                sql.NullTime
	server                time.Time
	// names interns the JSON keys and the short repeated strings (teams,
	// model versions, variants, outcomes), so rows share them.
	names map[string]string
}

// intern returns b as a string, shared with earlier rows of the same value.
func (r *entryReader) intern(b []byte) string {
	if s, ok := r.names[string(b)]; ok {
		return s
	}
	if r.names == nil {
		r.names = map[string]string{}
	}
	s := string(b)
	if len(r.names) < 10_000 { // bounded: keys and versions are few
		r.names[s] = s
	}
	return s
}

// read decodes the current row into e. With reuse, e's maps are cleared
// and refilled instead of replaced.
func (r *entryReader) read(rows *sql.Rows, e *Entry, reuse bool) error {
	if err := rows.Scan(&e.ID, &r.home, &r.away, &e.Neutral, &r.asOf, &r.outcome, &r.winner, &e.Probability,
		&r.probs, &r.features, &r.model, &r.variant, &r.client, &r.server); err != nil {
		return err
	}
	e.Home, e.Away, e.Winner = r.intern(r.home), r.intern(r.away), r.intern(r.winner)
	e.Outcome = matchwinner.Outcome(r.intern(r.outcome))
	e.ModelVersion, e.Variant = r.intern(r.model), r.intern(r.variant)
	e.AsOf = time.Time{}
	if r.asOf != nil {
		t, err := time.Parse(time.DateOnly, string(r.asOf))
		if err != nil {
			return fmt.Errorf("prediction %d: as_of %q: %w", e.ID, r.asOf, err)
		}
		e.AsOf = t
	}
	if !reuse || e.Probabilities == nil {
		e.Probabilities = make(map[matchwinner.Outcome]float64, 3)
	}
	clear(e.Probabilities)
	if err := r.decodeObject(r.probs, func(k string, v float64) { e.Probabilities[matchwinner.Outcome(k)] = v }, &e.Probabilities); err != nil {
		return fmt.Errorf("prediction %d: probabilities: %w", e.ID, err)
	}
	if r.features == nil {
		e.Features = nil
	} else {
		if !reuse || e.Features == nil {
			e.Features = make(map[string]float64, 32)
		}
		clear(e.Features)
		if err := r.decodeObject(r.features, func(k string, v float64) { e.Features[k] = v }, &e.Features); err != nil {
			return fmt.Errorf("prediction %d: features: %w", e.ID, err)
		}
	}
	e.ClientTime = time.Time{}
	if r.client.Valid {
		e.ClientTime = r.client.Time.UTC()
	}
	e.ServerTime = r.server.UTC()
	return nil
}

// decodeObject decodes a JSON object of numbers: the flat objects
// appendJSONObject writes are parsed directly, calling set for each
// member; anything else (escaped keys, whitespace, an older writer's
// output) falls back to encoding/json into dst.
func (r *entryReader) decodeObject(b []byte, set func(string, float64), dst any) error {
	if ok := r.parseFlat(b, set); ok {
		return nil
	}
	return json.Unmarshal(b, dst)
}

// parseFlat parses {"k":1.5,"k2":-3e-7} — no whitespace, no escapes — and
// reports whether b was of that form (set may have been called either way;
// the caller's fallback overwrites).
func (r *entryReader) parseFlat(b []byte, set func(string, float64)) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	b = b[1 : len(b)-1]
	for len(b) > 0 {
		if b[0] != '"' {
			return false
		}
		end := bytes.IndexByte(b[1:], '"')
		if end < 0 {
			return false
		}
		key := b[1 : 1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		b = b[2+end:]
		if len(b) == 0 || b[0] != ':' {
			return false
		}
		b = b[1:]
		n := bytes.IndexByte(b, ',')
		num := b
		if n >= 0 {
			num, b = b[:n], b[n+1:]
			if len(b) == 0 {
				return false
			}
		} else {
			b = nil
		}
		v, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return false
		}
		set(r.intern(key), v)
	}
	return true
}
