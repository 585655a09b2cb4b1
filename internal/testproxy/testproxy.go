// Package testproxy is a TCP relay to a real server (PostgreSQL, MariaDB)
// that a test can cut: while down it closes every connection, existing and
// new. Tests use it to make a real database unreachable mid-run — the
// failures the apps then see are the drivers' own errors, not imitations.
package testproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy relays connections from Addr to a target address.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

// Start listens on a free loopback port and relays to target (host:port)
// until the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.SetDown(true) })
	go p.serve()
	return p
}

// Addr is the address clients connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close(); c.Close() }()
		go func() { io.Copy(c, s); s.Close(); c.Close() }()
	}
}

// SetDown cuts (true) or restores (false) the relay. Cutting closes every
// open connection; new ones are accepted and closed at once, as a server
// that went away.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// Close stops listening and cuts every connection: clients then get
// "connection refused", as from a server that is not running.
func (p *Proxy) Close() {
	p.ln.Close()
	p.SetDown(true)
}
