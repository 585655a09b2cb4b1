// Package ferrettest runs an embedded FerretDB (a real MongoDB wire-protocol
// server, SQLite backend) on loopback for tests of the Mongo flight store and
// of the code that writes through it. It lives apart from mongostore so that
// both mongostore's own tests and other packages' tests can start one.
package ferrettest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"

	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/datalabhq/datalab/internal/testwait"
)

// Server is an embedded FerretDB on a fixed loopback address, with its data
// in a directory, so it can be stopped and started again on the same address
// with the data kept — a database that goes down and comes back.
type Server struct {
	t         testing.TB
	addr, dir string
	stop      func()
}

// Start runs a FerretDB on a free loopback port with its data in a new
// temporary directory; it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartAt(t, testnet.FreeAddr(t), dataDir(t))
}

// dataDir is a new directory for the server's SQLite files, on tmpfs
// (/dev/shm) where the machine has one: FerretDB's SQLite backend syncs
// every insert, and on a disk the tests' 10,000-insert runs spent most of
// their time (97 s vs 15 s here) waiting for fsync, which a test's
// throw-away data does not need. Data still survives Stop and Restart.
func dataDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "ferrettest-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// StartAt runs a FerretDB on addr with its data in dir.
func StartAt(t testing.TB, addr, dir string) *Server {
	t.Helper()
	s := &Server{t: t, addr: addr, dir: dir}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.addr }

// URI is the server's mongodb:// URI with the default database.
func (s *Server) URI() string { return "mongodb://" + s.addr + "/" }

// Stop stops the server (a no-op when it is stopped).
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Restart starts the server again on the same address and data (a no-op
// when it runs), and waits until it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	if s.stop != nil {
		return
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: s.addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + s.dir + "/",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	s.stop = func() { cancel(); <-done }
	var dialErr error
	if !testwait.Poll(10*time.Second, 20*time.Millisecond, func() bool {
		var c net.Conn
		if c, dialErr = net.DialTimeout("tcp", s.addr, 200*time.Millisecond); dialErr != nil {
			return false
		}
		c.Close()
		return true
	}) {
		s.Stop()
		s.t.Fatalf("FerretDB did not listen on %s: %v", s.addr, dialErr)
	}
}
