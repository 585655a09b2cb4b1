package sqldbtest

import (
	"net/url"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/datalabhq/datalab/internal/testproxy"
	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// ViaProxy rewrites a PostgreSQL or MariaDB DSN to reach its server through
// a test proxy, with a short connect timeout (2 s), so a test can cut the connection
// (Proxy.SetDown) and see how its code copes with an unreachable database.
func ViaProxy(t *testing.T, d sqldb.Dialect, dsn string) (string, *testproxy.Proxy) {
	t.Helper()
	switch d {
	case sqldb.Postgres:
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		px := testproxy.Start(t, u.Host)
		u.Host = px.Addr()
		q := u.Query()
		q.Set("connect_timeout", "2")
		u.RawQuery = q.Encode()
		return u.String(), px
	default:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		px := testproxy.Start(t, cfg.Addr)
		cfg.Addr, cfg.Timeout = px.Addr(), 2*time.Second
		return cfg.FormatDSN(), px
	}
}
