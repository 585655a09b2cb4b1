package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/flightstore/storetest"
)

func TestSQLite(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "flights.db")
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s)
	s.Close()
	// Reopening applies no migration twice and keeps the data.
	s, err = Open(context.Background(), "sqlite:"+dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.Count(context.Background()); err != nil || n != 602 {
		t.Fatalf("after reopen: %d, %v", n, err)
	}
}

// TestServers runs the same behaviour on the PostgreSQL and MariaDB servers
// .ci/setup starts on loopback (DATALAB_TEST_POSTGRES, DATALAB_TEST_MYSQL);
// skipped locally when they are not set, failed under CI.
func TestServers(t *testing.T) {
	for _, env := range []string{"DATALAB_TEST_POSTGRES", "DATALAB_TEST_MYSQL"} {
		t.Run(env, func(t *testing.T) {
			dsn := os.Getenv(env)
			if dsn == "" {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not set", env)
				}
				t.Skipf("%s not set", env)
			}
			ctx := context.Background()
			s, err := Open(ctx, dsn)
			if err != nil {
				if os.Getenv("CI") == "" && strings.Contains(err.Error(), "connect") {
					t.Skipf("no server: %v", err)
				}
				t.Fatal(err)
			}
			defer s.Close()
			// Start from an empty table so counts are exact.
			if _, err := s.DB().ExecContext(ctx, "DELETE FROM "+Table); err != nil {
				t.Fatal(err)
			}
			storetest.Run(t, s)
		})
	}
}
