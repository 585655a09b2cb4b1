package sqlstore

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/matches/predlog"
	"github.com/datalabhq/datalab/matches/predlog/predlogtest"
)

// TestKeyValueDSNIsPostgres: a libpq key=value DSN opens the PostgreSQL
// server it names; it used to become a new SQLite file named after the
// connection string, in the working directory (issue 12, finding 3).
func TestKeyValueDSNIsPostgres(t *testing.T) {
	u, err := url.Parse(predlogtest.DSN(t, predlog.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	kv := "host=" + u.Hostname() + " port=" + u.Port() + " user=" + u.User.Username() +
		" password='" + pass + "' dbname=" + strings.TrimPrefix(u.Path, "/") + " sslmode=disable"
	t.Chdir(t.TempDir()) // where a misread DSN would create its SQLite file
	s, err := Open(context.Background(), kv, WithTablePrefix(predlogtest.Prefix(t)))
	if err != nil {
		t.Fatalf("Open(%s): %v", predlog.Redact(kv), err)
	}
	defer s.Close()
	if s.Dialect() != predlog.Postgres {
		t.Errorf("Open(%s): dialect %s, want postgres", predlog.Redact(kv), s.Dialect())
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("files created in the working directory: %v", entries)
	}
}
