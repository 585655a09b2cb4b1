// Package teststores opens every flightstore.Store implementation on a real
// database for tests that must hold on all of them: SQLite (a file in the
// test's directory), PostgreSQL and MariaDB (the servers named by
// DATALAB_TEST_POSTGRES and DATALAB_TEST_MYSQL, under a fresh table prefix
// dropped afterwards — see pipeline/sqldb/sqldbtest) and MongoDB (an embedded FerretDB,
// ferrettest). Unlike storetest, which holds the behaviour and is run by each
// implementation's own tests, it imports the implementations, so the
// packages above the store (the predictor, the apps) can test themselves
// over every store with one loop.
package teststores

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/mongostore"
	"github.com/datalabhq/datalab/flights/flightstore/mongostore/ferrettest"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// Kind names a store implementation on a database.
type Kind string

// The stores every portable test runs against.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
	MariaDB  Kind = "mariadb"
	FerretDB Kind = "ferretdb"
)

// Kinds lists them, SQL first.
var Kinds = []Kind{SQLite, Postgres, MariaDB, FerretDB}

// dialects maps the SQL kinds to their sqldb dialect.
var dialects = map[Kind]sqldb.Dialect{SQLite: sqldb.SQLite, Postgres: sqldb.Postgres, MariaDB: sqldb.MySQL}

// Opened is a store under test.
type Opened struct {
	Kind  Kind
	Store flightstore.Store
	// SQL is the SQL store (nil for FerretDB), for statements a test runs
	// on its tables.
	SQL *sqlstore.Store
	// Ferret is the FerretDB server (nil for the SQL kinds), which a test
	// may stop and restart.
	Ferret *ferrettest.Server
}

// Open opens an empty store of kind k, closed (and its tables dropped)
// when the test ends. A PostgreSQL or MariaDB server that is not configured
// or not reachable skips the test locally and fails it under CI.
func Open(t *testing.T, k Kind) Opened {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if k == FerretDB {
		srv := ferrettest.Start(t)
		st, err := mongostore.Open(ctx, srv.URI())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return Opened{Kind: k, Store: st, Ferret: srv}
	}
	d, ok := dialects[k]
	if !ok {
		t.Fatalf("teststores: unknown store kind %q", k)
	}
	dsn, prefix := sqldbtest.DSN(t, d), sqldbtest.Prefix(t)
	sqldbtest.Reachable(t, d, dsn)
	st, err := sqlstore.Open(ctx, dsn, sqlstore.WithTablePrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, table := range []string{st.Table(), prefix + sqlstore.MigrationsTable} {
			if _, err := st.DB().Exec("DROP TABLE IF EXISTS " + table); err != nil {
				t.Errorf("drop %s: %v", table, err)
			}
		}
		st.Close()
	})
	return Opened{Kind: k, Store: st, SQL: st}
}

// Each runs fn as a subtest per kind in Kinds, each over a fresh store.
func Each(t *testing.T, fn func(t *testing.T, s Opened)) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) { fn(t, Open(t, k)) })
	}
}

// Stored is a stored prediction as the store keeps it: its id, the model
// that scored it and when the store wrote it.
type Stored struct {
	UUID, Model string
	At          time.Time
}

// Stored lists every stored prediction (pending ids left out) with the time
// the store wrote it (the SQL stores' stored_at, MongoDB's StoredAt), in no
// particular order.
func (o Opened) Stored(t testing.TB) []Stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Stored
	if o.SQL == nil {
		cl, err := mongo.Connect(options.Client().ApplyURI(o.Ferret.URI()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Disconnect(context.Background())
		cur, err := cl.Database(mongostore.DefaultDatabase).Collection(mongostore.Collection).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct {
			UUID     string    `bson:"UUID"`
			Model    string    `bson:"Model"`
			StoredAt time.Time `bson:"StoredAt"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			out = append(out, Stored{d.UUID, d.Model, d.StoredAt})
		}
		return out
	}
	rows, err := o.SQL.DB().QueryContext(ctx, `SELECT uuid, model, stored_at FROM `+o.SQL.Table()+` WHERE stored_at IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Stored
		if err := rows.Scan(&s.UUID, &s.Model, &s.At); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
