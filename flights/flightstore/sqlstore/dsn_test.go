package sqlstore

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/sqldb"
	"github.com/datalabhq/datalab/pipeline/sqldb/sqldbtest"
)

// TestKeyValueDSNIsPostgres: a libpq key=value DSN opens the PostgreSQL
// server it names; it used to become a new SQLite file named after the
// connection string, in the working directory (issue 12, finding 3).
func TestKeyValueDSNIsPostgres(t *testing.T) {
	u, err := url.Parse(sqldbtest.DSN(t, sqldb.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	kv := "host=" + u.Hostname() + " port=" + u.Port() + " user=" + u.User.Username() +
		" password='" + pass + "' dbname=" + strings.TrimPrefix(u.Path, "/") + " sslmode=disable"
	t.Chdir(t.TempDir()) // where a misread DSN would create its SQLite file
	s, err := Open(context.Background(), kv, WithTablePrefix(sqldbtest.Prefix(t)))
	if err != nil {
		t.Fatalf("Open(%s): %v", sqldb.Redact(kv), err)
	}
	defer s.Close()
	if s.Dialect() != sqldb.Postgres {
		t.Errorf("Open(%s): dialect %s, want postgres", sqldb.Redact(kv), s.Dialect())
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("files created in the working directory: %v", entries)
	}
}
