package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/datalabhq/datalab/matches/matchapp"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// dashboardOff is the --dashboard-addr value that serves no dashboard.
const dashboardOff = "off"

// serveDashboardFlags adds `datalab serve`'s dashboard exposure flags.
func serveDashboardFlags(f *pflag.FlagSet, o *serveOptions) {
	// The token's default is read at run time, not shown in --help: it is
	// a secret.
	f.StringVar(&o.dashboardToken, "dashboard-token", "",
		"require this token for /dashboard, as 'Authorization: Bearer <token>' or ?token=<token> (env DATALAB_DASHBOARD_TOKEN; prefer the env: a flag shows in ps)")
	f.StringVar(&o.dashboardAddr, "dashboard-addr", envOr("DATALAB_DASHBOARD_ADDR", ""),
		"serve /dashboard only on this address, e.g. 127.0.0.1:8081, instead of on --addr; 'off' serves no dashboard (env DATALAB_DASHBOARD_ADDR)")
}

// serveDashboard starts the dashboard's own listener when o.dashboardAddr
// names one, failing at once if the address is taken. The returned stop
// shuts it down and waits for it.
func serveDashboard(ctx context.Context, o serveOptions, app *matchapp.App, log *slog.Logger) (stop func(), err error) {
	if o.dashboardAddr == "" || o.dashboardAddr == dashboardOff {
		if o.dashboardAddr == dashboardOff {
			log.Info("dashboard not served (--dashboard-addr off)")
		}
		return func() {}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, serve.ServerConfig{Addr: o.dashboardAddr, Handler: app.DashboardHandler(), Logger: log,
			ShutdownTimeout: o.shutdownTimeout, Ready: func(addr string) { ready <- addr }})
	}()
	select {
	case addr := <-ready:
		log.Info("dashboard serving", "addr", addr, "token", o.dashboardToken != "")
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("dashboard (--dashboard-addr): %w", err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Warn("dashboard listener", "err", err)
		}
	}, nil
}
