// Package testnet gives tests loopback addresses to listen on, for servers
// that take an address rather than a listener (a datalab command started
// as a process, FerretDB, a container's published port).
package testnet

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback address ("127.0.0.1:PORT") whose port was
// free at the time of the call. Another program may take it before the
// test does; prefer handing a server "127.0.0.1:0" and reading back its
// address where the server allows it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	addr, err := net.ResolveTCPAddr("tcp", FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return addr.Port
}
