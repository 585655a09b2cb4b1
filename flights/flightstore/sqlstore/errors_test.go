package sqlstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/storetest"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// TestDataErrorsArePermanent feeds each database values it refuses and
// faults that are not the values' and checks the store's classification on
// the drivers' real errors: data errors (SQLSTATE 22/23, SQLite constraint)
// are flightstore.IsPermanent, the rest are not. Which values fail differs
// by database — PostgreSQL's TEXT takes a 321-character timestamp that
// MariaDB's VARCHAR(255) refuses, SQLite refuses neither — and the test
// records that too.
func TestDataErrorsArePermanent(t *testing.T) {
	long := "2026-11-23T10:00:00." + strings.Repeat("1", 300) + "Z"
	type outcome int
	const (
		stored outcome = iota
		permanent
		retryable
	)
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := openFresh(t, d, flightstore.Policy{AcceptUnissued: true})
			ctx := context.Background()
			doc := func(change func(*flightdelay.Prediction)) func() error {
				return func() error {
					p := storetest.Doc(uuid.NewString(), 1)
					change(&p)
					return s.Upsert(ctx, p)
				}
			}
			dup := uuid.NewString()
			by := func(m map[sqldb.Dialect]outcome) outcome { return m[d] }
			for _, c := range []struct {
				name string
				run  func() error
				want outcome
			}{
				{"good document", doc(func(*flightdelay.Prediction) {}), stored},
				{"urn:uuid id", doc(func(p *flightdelay.Prediction) { p.UUID = "urn:uuid:" + p.UUID }),
					by(map[sqldb.Dialect]outcome{sqldb.SQLite: stored, sqldb.Postgres: permanent, sqldb.MySQL: permanent})},
				{"321-character timestamp", doc(func(p *flightdelay.Prediction) { p.Timestamp = long }),
					by(map[sqldb.Dialect]outcome{sqldb.SQLite: stored, sqldb.Postgres: stored, sqldb.MySQL: permanent})},
				{"NUL in a string", doc(func(p *flightdelay.Prediction) { p.Timestamp = "2026\x00" }),
					by(map[sqldb.Dialect]outcome{sqldb.SQLite: stored, sqldb.Postgres: permanent, sqldb.MySQL: stored})},
				{"duplicate primary key", func() error {
					q := s.rebind(`INSERT INTO ` + s.table + ` (uuid) VALUES (?)`)
					if _, err := s.db.ExecContext(ctx, q, dup); err != nil {
						return err
					}
					_, err := s.db.ExecContext(ctx, q, dup)
					return flightstore.PermanentIf(err, dataError)
				}, permanent},
				{"missing table", func() error {
					_, err := s.db.ExecContext(ctx, `INSERT INTO `+s.table+`_missing (uuid) VALUES ('x')`)
					return flightstore.PermanentIf(err, dataError)
				}, retryable},
				{"deadline", func() error {
					c, cancel := context.WithTimeout(ctx, time.Nanosecond)
					defer cancel()
					time.Sleep(time.Millisecond)
					return s.Upsert(c, storetest.Doc(uuid.NewString(), 1))
				}, retryable},
			} {
				err := c.run()
				var got outcome
				switch {
				case err == nil:
					got = stored
				case flightstore.IsPermanent(err):
					got = permanent
				default:
					got = retryable
				}
				if got != c.want {
					t.Errorf("%s: %v (permanent %v), want outcome %d", c.name, err, flightstore.IsPermanent(err), c.want)
				}
			}
		})
	}
}

// TestServerDownIsRetryable: a server that refuses connections is not a
// data error.
func TestServerDownIsRetryable(t *testing.T) {
	for _, dsn := range []string{"postgres://u:p@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "u:p@tcp(127.0.0.1:1)/db?timeout=2s"} {
		db, _, err := sqldb.OpenDB(context.Background(), dsn, "test")
		if err == nil {
			db.Close()
			t.Fatalf("%s: opened", dsn)
		}
		if dataError(err) || flightstore.IsPermanent(flightstore.PermanentIf(err, dataError)) {
			t.Errorf("%s: connection refused classified as a data error: %v", dsn, err)
		}
	}
}
