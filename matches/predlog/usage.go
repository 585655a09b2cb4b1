package predlog

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// The dashboard's figures are kept as counters in a small table beside the
// log (<prefix>match_usage), one row per (kind, key): the writer adds each
// batch's counts in the same transaction as the batch (Insert), and the
// migration that created the table filled it from the existing rows. So a
// dashboard read costs the same at a thousand or a billion logged
// predictions: it reads a few hundred counter rows and the 20 newest
// predictions by primary key, instead of grouping the whole log seven times.
//
// Kinds and keys:
//
//	total    ("", "")        predictions logged
//	team     (team, "")      predictions naming the team, home or away
//	matchup  (home, away)    predictions of the pair
//	hour     ("0".."23", "") by UTC hour of the server time
//	day      (YYYY-MM-DD, "") by UTC day of the server time
//	outcome  (outcome, "")   by predicted outcome
const (
	usageTotal   = "total"
	usageTeam    = "team"
	usageMatchup = "matchup"
	usageHour    = "hour"
	usageDay     = "day"
	usageOutcome = "outcome"
)

// usageKey is one counter row's key.
type usageKey struct{ kind, k1, k2 string }

// usageDeltas counts entries per counter, sorted by key: every writer
// updates rows in the same order, so two app replicas writing to one
// database cannot deadlock on the counters.
func usageDeltas(entries []Entry) ([]usageKey, []int64) {
	counts := map[usageKey]int64{}
	for _, e := range entries {
		st := e.ServerTime.UTC()
		counts[usageKey{usageTotal, "", ""}]++
		counts[usageKey{usageTeam, e.Home, ""}]++
		counts[usageKey{usageTeam, e.Away, ""}]++
		counts[usageKey{usageMatchup, e.Home, e.Away}]++
		counts[usageKey{usageHour, strconv.Itoa(st.Hour()), ""}]++
		counts[usageKey{usageDay, st.Format(time.DateOnly), ""}]++
		counts[usageKey{usageOutcome, string(e.Outcome), ""}]++
	}
	keys := make([]usageKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b usageKey) int {
		return cmpStrings(a.kind, b.kind, a.k1, b.k1, a.k2, b.k2)
	})
	n := make([]int64, len(keys))
	for i, k := range keys {
		n[i] = counts[k]
	}
	return keys, n
}

func cmpStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}

// execFunc runs one statement inside the caller's transaction (database/sql
// or pgx, whichever Insert holds).
type execFunc func(ctx context.Context, q string, args ...any) error

// addUsage adds the counts of entries to the counters through exec, in the
// transaction that inserts entries.
func (l *Log) addUsage(ctx context.Context, exec execFunc, entries []Entry) error {
	keys, counts := usageDeltas(entries)
	var upsert string
	switch l.dialect {
	case sqldb.MySQL:
		upsert = " ON DUPLICATE KEY UPDATE n = n + VALUES(n)"
	default: // SQLite ≥ 3.24 and PostgreSQL ≥ 9.5 share the syntax.
		upsert = " ON CONFLICT (kind, k1, k2) DO UPDATE SET n = " + l.usage + ".n + excluded.n"
	}
	for start := 0; start < len(keys); start += maxInsertRows {
		end := min(start+maxInsertRows, len(keys))
		var q strings.Builder
		q.WriteString("INSERT INTO " + l.usage + " (kind, k1, k2, n) VALUES ")
		args := make([]any, 0, 4*(end-start))
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?)")
			args = append(args, keys[i].kind, keys[i].k1, keys[i].k2, counts[i])
		}
		q.WriteString(upsert)
		if err := exec(ctx, l.rebind(q.String()), args...); err != nil {
			return fmt.Errorf("update usage counters of %d entries: %w", len(entries), err)
		}
	}
	return nil
}

// usageRebuildStmts recompute every counter from the predictions table {t}
// into the counters table {u}: the backfill of migration 2, and
// RebuildUsage.
func usageRebuildStmts(d sqldb.Dialect) []string {
	text := "TEXT"
	if d == sqldb.MySQL {
		text = "CHAR"
	}
	ins := "INSERT INTO {u} (kind, k1, k2, n) "
	return []string{
		"DELETE FROM {u}",
		ins + "SELECT '" + usageTotal + "', '', '', COUNT(*) FROM {t}",
		ins + "SELECT '" + usageTeam + "', team, '', COUNT(*) FROM (SELECT home AS team FROM {t} UNION ALL SELECT away AS team FROM {t}) x GROUP BY team",
		ins + "SELECT '" + usageMatchup + "', home, away, COUNT(*) FROM {t} GROUP BY home, away",
		ins + "SELECT '" + usageHour + "', CAST(server_hour AS " + text + "), '', COUNT(*) FROM {t} GROUP BY server_hour",
		ins + "SELECT '" + usageDay + "', server_day, '', COUNT(*) FROM {t} GROUP BY server_day",
		ins + "SELECT '" + usageOutcome + "', outcome, '', COUNT(*) FROM {t} GROUP BY outcome",
	}
}

// RebuildUsage recomputes the dashboard's counters from the whole log, in
// one transaction. The writer keeps them current by itself; run this after
// changing the predictions table by hand (deleting old rows, loading rows
// with SQL). It scans the whole table, as the migration's backfill does.
func (l *Log) RebuildUsage(ctx context.Context) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rebuild usage counters: %w", err)
	}
	defer tx.Rollback()
	r := l.replacer()
	for _, s := range usageRebuildStmts(l.dialect) {
		if _, err := tx.ExecContext(ctx, r.Replace(s)); err != nil {
			return fmt.Errorf("rebuild usage counters: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rebuild usage counters: %w", err)
	}
	return nil
}

// UsageLimits are the sizes of Usage's lists.
type UsageLimits struct {
	TopTeams, TopMatchups, Days, Recent int
}

// Usage is everything the usage dashboard shows.
type Usage struct {
	// Total is the number of logged predictions.
	Total int64
	// TopTeams are the most requested teams, home or away, most first,
	// ties by name (byte order).
	TopTeams []Counted
	// TopMatchups are the most requested home/away pairs, most first, ties
	// by home then away name.
	TopMatchups []Matchup
	// ByHour counts predictions per UTC hour of day (index = hour).
	ByHour [24]int64
	// ByDay counts per UTC day (YYYY-MM-DD) of the last days with
	// predictions, oldest first.
	ByDay []Counted
	// Outcomes counts predictions per outcome, most frequent first.
	Outcomes []Counted
	// Recent are the newest predictions, newest first.
	Recent []Entry
}

// Usage reads the dashboard's figures from the counters the writer keeps
// (see RebuildUsage), with four queries whose cost does not grow with the
// log: the small counters (total, teams, hours, outcomes), the newest
// days, the match-ups tied for the top places, and the newest entries by
// primary key. All four run on one connection, so a dashboard read never
// holds more than one connection of the pool. The answers equal those of
// Count, TopTeams, TopMatchups, ByHour, ByDay, OutcomeMix and Recent, which
// scan the whole table.
func (l *Log) Usage(ctx context.Context, lim UsageLimits) (*Usage, error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	defer conn.Close()
	var u Usage

	// 1. Counters with few rows: one total, a row per team the model knows,
	// 24 hours, a handful of outcomes.
	rows, err := conn.QueryContext(ctx, l.rebind("SELECT kind, k1, n FROM "+l.usage+" WHERE kind IN (?, ?, ?, ?)"),
		usageTotal, usageTeam, usageHour, usageOutcome)
	if err != nil {
		return nil, fmt.Errorf("read usage counters: %w", err)
	}
	var teams []Counted
	for rows.Next() {
		var kind string
		var c Counted
		if err := rows.Scan(&kind, &c.Label, &c.Count); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read usage counters: %w", err)
		}
		switch kind {
		case usageTotal:
			u.Total = c.Count
		case usageTeam:
			teams = append(teams, c)
		case usageOutcome:
			u.Outcomes = append(u.Outcomes, c)
		case usageHour:
			h, err := strconv.Atoi(strings.TrimSpace(c.Label))
			if err != nil || h < 0 || h > 23 {
				rows.Close()
				return nil, fmt.Errorf("read usage counters: stored hour %q outside 0–23", c.Label)
			}
			u.ByHour[h] = c.Count
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("read usage counters: %w", err)
	}
	rows.Close()
	// Counters of zero are left by nothing today, but would be by a
	// retention job subtracting; the scans never return empty groups.
	teams = slices.DeleteFunc(teams, func(c Counted) bool { return c.Count == 0 })
	u.Outcomes = slices.DeleteFunc(u.Outcomes, func(c Counted) bool { return c.Count == 0 })
	sortCounted(teams)
	u.TopTeams = teams[:min(lim.TopTeams, len(teams))]
	sortCounted(u.Outcomes)

	// 2. The newest days with predictions. Day keys are fixed-width
	// YYYY-MM-DD, so every collation orders them by date.
	if u.ByDay, err = l.countedOn(ctx, conn, "usage by day",
		"SELECT k1, n FROM "+l.usage+" WHERE kind = ? AND n > 0 ORDER BY k1 DESC LIMIT ?", usageDay, lim.Days); err != nil {
		return nil, err
	}
	sort.Slice(u.ByDay, func(i, j int) bool { return u.ByDay[i].Label < u.ByDay[j].Label })

	// 3. Match-ups: every pair counted at least as often as the
	// TopMatchups-th most requested one, so ties at the cut are broken in
	// Go (byte order, as the scan does), not by the database's collation.
	if lim.TopMatchups > 0 {
		q := "SELECT k1, k2, n FROM " + l.usage + " WHERE kind = ? AND n > 0 AND n >= COALESCE((SELECT n FROM " + l.usage +
			" WHERE kind = ? ORDER BY n DESC LIMIT 1 OFFSET ?), 0)"
		if l.dialect == sqldb.MySQL {
			// MySQL cannot read the table being selected from in a subquery
			// of the same statement without a derived table.
			q = "SELECT k1, k2, n FROM " + l.usage + " WHERE kind = ? AND n > 0 AND n >= COALESCE((SELECT n FROM (SELECT n FROM " + l.usage +
				" WHERE kind = ? ORDER BY n DESC LIMIT 1 OFFSET ?) cut), 0)"
		}
		rows, err := conn.QueryContext(ctx, l.rebind(q), usageMatchup, usageMatchup, lim.TopMatchups-1)
		if err != nil {
			return nil, fmt.Errorf("read top match-ups: %w", err)
		}
		for rows.Next() {
			var m Matchup
			if err := rows.Scan(&m.Home, &m.Away, &m.Count); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read top match-ups: %w", err)
			}
			u.TopMatchups = append(u.TopMatchups, m)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read top match-ups: %w", err)
		}
		rows.Close()
		sortMatchups(u.TopMatchups)
		u.TopMatchups = u.TopMatchups[:min(lim.TopMatchups, len(u.TopMatchups))]
	}

	// 4. The newest entries, by primary key.
	if lim.Recent > 0 {
		if u.Recent, err = l.recent(ctx, conn, lim.Recent); err != nil {
			return nil, err
		}
	}
	return &u, nil
}
