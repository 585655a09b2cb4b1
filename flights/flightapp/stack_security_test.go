package flightapp_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/internal/testpki"
)

// TestStackOverTLSAndSASL runs the stack with its embedded broker speaking
// TLS and requiring SCRAM-SHA-256: a form POST is answered through it; the
// same stack without the client's TLS or password does not start, and says
// why.
func TestStackOverTLSAndSASL(t *testing.T) {
	pki := testpki.New(t)
	tc, err := stream.ServerTLSConfig(pki.ServerCert, pki.ServerKey, "")
	if err != nil {
		t.Fatal(err)
	}
	users := []stream.BrokerUser{{Mechanism: stream.MechanismSCRAMSHA256, Name: "flights", Password: "stack-test-password"}}
	good := stream.Security{TLSCAFile: pki.CA, SASLMechanism: stream.MechanismSCRAMSHA256, SASLUsername: "flights", SASLPassword: "stack-test-password"}
	sc, dist := flighttest.Fixtures(t)
	start := func(sec stream.Security) (*flightapp.Stack, *sqlstore.Store, error) {
		st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "flights.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, err := flightapp.StartStack(context.Background(), flightapp.StackConfig{
			EmbeddedAddr: "127.0.0.1:0", EmbeddedTLS: tc, EmbeddedUsers: users, Kafka: sec,
			Scorer: sc, Distances: dist, Store: st, Logger: slog.New(slog.DiscardHandler)})
		return s, st, err
	}

	noTLS, wrongPass := good, good
	noTLS.TLSCAFile = ""
	wrongPass.SASLPassword = "guessed"
	for name, tc := range map[string]struct {
		sec  stream.Security
		want string
	}{
		"no tls":         {noTLS, "is TLS missing?"},
		"wrong password": {wrongPass, "check the SASL mechanism, username and password"},
	} {
		s, _, err := start(tc.sec)
		if err == nil {
			s.Close()
			t.Errorf("%s: the stack started", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "stack-test-password") || strings.Contains(err.Error(), "guessed") {
			t.Errorf("%s: %v, want an error saying %q without the password", name, err, tc.want)
		}
	}

	s, _, err := start(good)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.App)
	defer srv.Close()
	code, body := postForm(t, srv.URL, seedForm())
	id, _ := body["id"].(string)
	if code != 200 || id == "" {
		t.Fatalf("POST: %d %v", code, body)
	}
	if pred := waitOK(t, srv.URL, id, 20*time.Second)["prediction"].(map[string]any); pred["UUID"] != id {
		t.Fatalf("prediction %v", pred)
	}
}
