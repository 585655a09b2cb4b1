package main

import (
	"net"
	"os"
	"testing"

	"github.com/spf13/cobra"
)

// TestAppsListenOnLoopbackByDefault: serve and serve-flights, like up,
// listen on 127.0.0.1 unless told otherwise (issue 12: they used to take
// every interface, so a laptop's apps were open to its network). Images,
// compose and kustomize pass :PORT explicitly (their tests check it).
func TestAppsListenOnLoopbackByDefault(t *testing.T) {
	for _, c := range []struct {
		cmd       *cobra.Command
		flag, env string
	}{
		{serveCmd, "addr", "DATALAB_ADDR"},
		{serveFlightsCmd, "addr", "DATALAB_FLIGHT_ADDR"},
		{upCmd, "addr", "DATALAB_ADDR"},
		{upCmd, "flight-addr", "DATALAB_FLIGHT_ADDR"},
	} {
		if os.Getenv(c.env) != "" {
			t.Skipf("%s is set: the flag defaults come from it", c.env)
		}
		def := c.cmd.Flags().Lookup(c.flag).DefValue
		host, _, err := net.SplitHostPort(def)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			t.Errorf("%s --%s defaults to %q, want a loopback address", c.cmd.Name(), c.flag, def)
		}
	}
}
