// Package serve is the HTTP layer both web apps (matches/matchapp
// and flights/flightapp) and the flight predictor's health endpoint
// (`datalab predictor`) run behind, so that they are hardened the
// same way and read the same in logs and metrics. It is the only package
// that runs an HTTP server (internal/repocheck checks):
//
//   - Serve: an http.Server with read, write and idle timeouts and a
//     graceful shutdown when the context ends;
//   - Layer.Wrap: the same security headers on every answer (a Content-
//     Security-Policy each app fits to its pages, nosniff, no referrer, no
//     framing), a request id (X-Request-Id), one slog line per request, and
//     a panic turned into a generic 500;
//   - Layer.Handle: a route with the HTTP metrics under one naming scheme
//     (datalab_http_requests_total, datalab_http_request_duration_seconds,
//     labelled app and handler) and cross-origin POSTs refused (403);
//   - NewRegistry and Layer.HandleMetrics: each process's own Prometheus
//     registry (Go and process collectors) served on GET /metrics;
//   - Layer.Fail and PublicError: 5xx bodies that say only what failed in
//     general and where to look (the server log, under the request id),
//     with the detail logged;
//   - DecodeJSON: exactly one JSON value, no unknown fields, nothing after.
//
// It sits at the serving end of the flow and imports no stage package.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the servers Serve runs. A slow or stalled client is cut off
// after these, so it cannot hold a connection (and its goroutine) forever.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 2 * time.Minute
	// MaxHeaderBytes bounds request headers; the apps' requests carry a
	// few hundred bytes.
	MaxHeaderBytes = 64 << 10
	// DefaultShutdownTimeout is how long Serve waits for requests in
	// flight once its context ends.
	DefaultShutdownTimeout = 15 * time.Second
)

// ServerConfig is what Serve needs.
type ServerConfig struct {
	// Addr is the listen address. The commands default to loopback
	// (127.0.0.1:PORT); containers pass :PORT explicitly.
	Addr string
	// Handler serves the requests (usually a Layer.Wrap'ed app).
	Handler http.Handler
	// Logger gets the server's own errors (TLS handshakes, broken
	// connections); nil uses slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Ready, when set, is called with the listening address once the
	// server accepts connections.
	Ready func(addr string)
}

// Serve listens on cfg.Addr and serves until ctx ends, then stops accepting
// connections and waits up to ShutdownTimeout for requests in flight. It
// returns nil after a clean shutdown; a taken address fails at once.
func Serve(ctx context.Context, cfg ServerConfig) error {
	if cfg.Handler == nil {
		return errors.New("serve: no handler")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	srv := &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server running there? pick another address with --addr)", cfg.Addr, err)
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
