package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/internal/testpki"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Passwords the tests use; the wrong one is what an attacker guesses.
const (
	testPassword  = "s3cret-Pa55word-for-tests"
	wrongPassword = "not-the-password"
)

// secureBroker starts an embedded broker with the given TLS and users.
func secureBroker(t *testing.T, pki *testpki.PKI, clientCA bool, users ...BrokerUser) *Broker {
	t.Helper()
	cfg := BrokerConfig{Addr: "127.0.0.1:0", Users: users, Logger: slog.New(slog.DiscardHandler)}
	if pki != nil {
		ca := ""
		if clientCA {
			ca = pki.CA
		}
		tc, err := ServerTLSConfig(pki.ServerCert, pki.ServerKey, ca)
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = tc
	}
	b, err := StartBroker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// roundTrip creates a topic, produces one record and consumes it back
// with a client configured by sec; it returns the first error.
func roundTrip(t *testing.T, addr string, sec Security) error {
	t.Helper()
	opts, err := sec.ClientOpts([]string{addr})
	if err != nil {
		return err
	}
	return sec.Explain(produceConsume(t, addr, opts, fmt.Sprintf("hello over %s", sec)))
}

// produceConsume produces want to a fresh or existing topic and consumes
// the topic to its end: the last record must be want.
func produceConsume(t *testing.T, addr string, opts []kgo.Opt, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	topic := "security-" + strings.ReplaceAll(t.Name(), "/", "-")
	prod, err := NewProducer([]string{addr}, topic, append(opts, kgo.RequestRetries(1))...)
	if err != nil {
		return err
	}
	defer prod.Close()
	if err := EnsureTopics(ctx, prod.Client(), 1, topic); err != nil {
		return err
	}
	if err := prod.Client().ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(want)}).FirstErr(); err != nil {
		return err
	}
	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return err
	}
	defer cons.Close()
	for {
		fetches := cons.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			return err
		}
		recs := fetches.Records()
		if len(recs) > 0 && string(recs[len(recs)-1].Value) == want {
			return nil
		}
	}
}

// securityCase is a broker configuration and a client's settings.
type securityCase struct {
	name     string
	pki      *testpki.PKI // TLS with its broker certificate; nil for none
	clientCA bool         // the broker requires a client certificate from pki's CA
	users    []BrokerUser
	sec      Security
	want     string // "" when the round trip must work, else in its error
}

// run starts the broker and makes a round trip: it works when no error is
// wanted, else it fails saying tc.want, and no error carries a password.
func (tc securityCase) run(t *testing.T) {
	b := secureBroker(t, tc.pki, tc.clientCA, tc.users...)
	err := roundTrip(t, b.Addr(), tc.sec)
	switch {
	case tc.want == "" && err != nil:
		t.Fatalf("round trip over %s: %v", tc.sec, err)
	case tc.want == "":
		return
	case err == nil:
		t.Fatalf("round trip over %s succeeded, want it refused", tc.sec)
	case !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)):
		t.Errorf("error %q does not say %q", err, tc.want)
	}
	for _, p := range []string{testPassword, wrongPassword} {
		if strings.Contains(err.Error(), p) {
			t.Errorf("error carries a password: %v", err)
		}
	}
}

// TestSecurityRoundTrip produces and consumes through the embedded broker
// configured for TLS, mutual TLS, SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
// and TLS with SCRAM, with the right settings.
func TestSecurityRoundTrip(t *testing.T) {
	pki := testpki.New(t)
	user := func(m string) BrokerUser { return BrokerUser{Mechanism: m, Name: "datalab", Password: testPassword} }
	sasl := func(m string) Security {
		return Security{SASLMechanism: m, SASLUsername: "datalab", SASLPassword: testPassword}
	}
	tlsSASL := func(m string) Security {
		s := sasl(m)
		s.TLSCAFile = pki.CA
		return s
	}
	for _, tc := range []securityCase{
		{name: "plaintext"},
		{name: "tls", pki: &pki, sec: Security{TLS: true, TLSCAFile: pki.CA}},
		{name: "tls server name", pki: &pki, sec: Security{TLSCAFile: pki.CA, TLSServerName: "broker.datalab.test"}},
		{name: "mutual tls", pki: &pki, clientCA: true, sec: Security{TLSCAFile: pki.CA, TLSCertFile: pki.ClientCert, TLSKeyFile: pki.ClientKey}},
		{name: "insecure skip verify", pki: &pki, sec: Security{TLSInsecureSkipVerify: true}},
		{name: "plain", users: []BrokerUser{user(MechanismPlain)}, sec: sasl(MechanismPlain)},
		{name: "scram-sha-256", users: []BrokerUser{user(MechanismSCRAMSHA256)}, sec: sasl(MechanismSCRAMSHA256)},
		{name: "scram-sha-512", users: []BrokerUser{user(MechanismSCRAMSHA512)}, sec: sasl(MechanismSCRAMSHA512)},
		{name: "lower-case mechanism", users: []BrokerUser{user(MechanismSCRAMSHA512)}, sec: sasl("scram-sha-512")},
		{name: "tls plain", pki: &pki, users: []BrokerUser{user(MechanismPlain)}, sec: tlsSASL(MechanismPlain)},
		{name: "tls scram-sha-512", pki: &pki, users: []BrokerUser{user(MechanismSCRAMSHA512)}, sec: tlsSASL(MechanismSCRAMSHA512)},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestSecurityRefused connects with missing or wrong settings: each attempt
// fails (nothing is produced or consumed) with an error that names the
// cause, and no error carries a password.
func TestSecurityRefused(t *testing.T) {
	pki := testpki.New(t)
	user := func(m string) BrokerUser { return BrokerUser{Mechanism: m, Name: "datalab", Password: testPassword} }
	for _, tc := range []securityCase{
		{name: "no credentials", users: []BrokerUser{user(MechanismSCRAMSHA256)}, want: "is SASL missing?"},
		{name: "plain wrong password", users: []BrokerUser{user(MechanismPlain)},
			sec: Security{SASLMechanism: MechanismPlain, SASLUsername: "datalab", SASLPassword: wrongPassword}, want: saslRefusedHint},
		{name: "plain unknown user", users: []BrokerUser{user(MechanismPlain)},
			sec: Security{SASLMechanism: MechanismPlain, SASLUsername: "mallory", SASLPassword: testPassword}, want: saslRefusedHint},
		{name: "scram-sha-256 wrong password", users: []BrokerUser{user(MechanismSCRAMSHA256)},
			sec: Security{SASLMechanism: MechanismSCRAMSHA256, SASLUsername: "datalab", SASLPassword: wrongPassword}, want: saslRefusedHint},
		{name: "scram-sha-512 wrong password", users: []BrokerUser{user(MechanismSCRAMSHA512)},
			sec: Security{SASLMechanism: MechanismSCRAMSHA512, SASLUsername: "datalab", SASLPassword: wrongPassword}, want: saslRefusedHint},
		{name: "wrong mechanism", users: []BrokerUser{user(MechanismSCRAMSHA512)},
			sec: Security{SASLMechanism: MechanismSCRAMSHA256, SASLUsername: "datalab", SASLPassword: testPassword}, want: saslRefusedHint},
		{name: "plaintext client to tls broker", pki: &pki, want: "is TLS missing?"},
		{name: "unknown ca", pki: &pki, sec: Security{TLS: true}, want: "certificate signed by unknown authority"},
		{name: "other ca", pki: &pki, sec: Security{TLSCAFile: pki.OtherCA}, want: "certificate signed by unknown authority"},
		{name: "wrong server name", pki: &pki, sec: Security{TLSCAFile: pki.CA, TLSServerName: "kafka.example.com"}, want: "not kafka.example.com"},
		{name: "mutual tls without client cert", pki: &pki, clientCA: true, sec: Security{TLSCAFile: pki.CA}, want: "certificate required"},
		{name: "tls client to plaintext broker", sec: Security{TLSCAFile: pki.CA}, want: "tls"},
		{name: "tls scram wrong password", pki: &pki, users: []BrokerUser{user(MechanismSCRAMSHA512)},
			sec: Security{TLSCAFile: pki.CA, SASLMechanism: MechanismSCRAMSHA512, SASLUsername: "datalab", SASLPassword: wrongPassword}, want: saslRefusedHint},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestSecurityValidate refuses incomplete or unsafe settings before any
// connection, with a message naming the flag to fix.
func TestSecurityValidate(t *testing.T) {
	remote := []string{"b-1.kafka.example.com:9096"}
	local := []string{"127.0.0.1:9092", "localhost:9092"}
	for _, tc := range []struct {
		name    string
		sec     Security
		brokers []string
		want    string // "" for valid
	}{
		{name: "zero", brokers: remote},
		{name: "tls only", sec: Security{TLS: true}, brokers: remote},
		{name: "confluent cloud", sec: Security{TLS: true, SASLMechanism: "PLAIN", SASLUsername: "KEY", SASLPassword: "SECRET"}, brokers: remote},
		{name: "msk iam", sec: Security{TLS: true, SASLMechanism: "AWS_MSK_IAM"}, brokers: remote},
		{name: "scram without tls", sec: Security{SASLMechanism: "SCRAM-SHA-512", SASLUsername: "u", SASLPassword: "p"}, brokers: remote},
		{name: "plain without tls on loopback", sec: Security{SASLMechanism: "PLAIN", SASLUsername: "u", SASLPassword: "p"}, brokers: local},
		{name: "unknown mechanism", sec: Security{SASLMechanism: "GSSAPI"}, brokers: remote, want: "want one of PLAIN"},
		{name: "user without mechanism", sec: Security{SASLUsername: "u", SASLPassword: "p"}, brokers: remote, want: "--kafka-sasl-mechanism"},
		{name: "no password", sec: Security{SASLMechanism: "SCRAM-SHA-256", SASLUsername: "u"}, brokers: remote, want: "DATALAB_KAFKA_SASL_PASSWORD"},
		{name: "no username", sec: Security{SASLMechanism: "PLAIN", SASLPassword: "p", TLS: true}, brokers: remote, want: "--kafka-sasl-username"},
		{name: "plain without tls", sec: Security{SASLMechanism: "PLAIN", SASLUsername: "u", SASLPassword: "p"}, brokers: remote, want: "clear text"},
		{name: "msk iam without tls", sec: Security{SASLMechanism: "AWS_MSK_IAM"}, brokers: remote, want: "needs TLS"},
		{name: "msk iam with password", sec: Security{TLS: true, SASLMechanism: "AWS_MSK_IAM", SASLUsername: "u", SASLPassword: "p"}, brokers: remote, want: "unset the SASL username"},
		{name: "cert without key", sec: Security{TLSCertFile: "c.pem"}, brokers: remote, want: "--kafka-tls-key"},
		{name: "key without cert", sec: Security{TLSKeyFile: "k.pem"}, brokers: remote, want: "--kafka-tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sec.Validate(tc.brokers)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error saying %q", err, tc.want)
			}
			if err != nil && tc.sec.SASLPassword != "" && strings.Contains(err.Error(), "="+tc.sec.SASLPassword) {
				t.Errorf("error carries the password: %v", err)
			}
		})
	}
}

// TestSecurityFiles reports unreadable or malformed certificate files by
// name when the client options are built.
func TestSecurityFiles(t *testing.T) {
	pki := testpki.New(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sec  Security
		want string
	}{
		{"missing ca", Security{TLSCAFile: missing}, "missing.pem"},
		{"ca not pem", Security{TLSCAFile: notPEM}, "holds no PEM certificate"},
		{"cert and key swapped", Security{TLSCertFile: pki.ClientKey, TLSKeyFile: pki.ClientCert}, "want PEM files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sec.ClientOpts([]string{"127.0.0.1:9092"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ClientOpts: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestSecurityNeverPrintsPassword formats a Security every way a log line
// or an error might.
func TestSecurityNeverPrintsPassword(t *testing.T) {
	s := Security{TLS: true, SASLMechanism: MechanismSCRAMSHA512, SASLUsername: "datalab", SASLPassword: testPassword}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("kafka", "security", s)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("kafka", "security", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), logged.String(), s.String()} {
		if strings.Contains(out, testPassword) {
			t.Fatalf("password printed: %s", out)
		}
		if !strings.Contains(out, "SCRAM-SHA-512") || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("description %q lacks the mechanism or the redaction mark", out)
		}
	}
}

// TestBrokerSASLUsersNotKept restarts a persistent SASL broker: the saved
// state holds no password, a changed password takes effect at once and the
// old one is refused.
func TestBrokerSASLUsersNotKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kafka")
	start := func(pass string) *Broker {
		b, err := StartBroker(BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.DiscardHandler),
			Users: []BrokerUser{{Mechanism: MechanismPlain, Name: "datalab", Password: pass}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sec := func(pass string) Security {
		return Security{SASLMechanism: MechanismPlain, SASLUsername: "datalab", SASLPassword: pass}
	}
	b := start(testPassword)
	if err := roundTrip(t, b.Addr(), sec(testPassword)); err != nil {
		b.Close()
		t.Fatal(err)
	}
	b.Close()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), testPassword) {
			return fmt.Errorf("%s holds the password", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const rotated = "rotated-Pa55word"
	b = start(rotated)
	defer b.Close()
	if err := roundTrip(t, b.Addr(), sec(testPassword)); err == nil {
		t.Error("the old password still works after a restart with a new one")
	}
	if err := roundTrip(t, b.Addr(), sec(rotated)); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// TestBrokerRefusesBadUsers checks the embedded broker's own settings.
func TestBrokerRefusesBadUsers(t *testing.T) {
	for _, tc := range []struct {
		user BrokerUser
		want string
	}{
		{BrokerUser{Mechanism: MechanismAWSMSKIAM, Name: "u", Password: "p"}, "AWS_MSK_IAM is MSK's own"},
		{BrokerUser{Mechanism: "GSSAPI", Name: "u", Password: "p"}, "speaks PLAIN"},
		{BrokerUser{Mechanism: MechanismPlain, Name: "u"}, "a name and a password"},
	} {
		b, err := StartBroker(BrokerConfig{Addr: "127.0.0.1:0", Users: []BrokerUser{tc.user}})
		if err == nil {
			b.Close()
			t.Errorf("%+v: started", tc.user)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.user, err, tc.want)
		}
	}
	if _, err := ServerTLSConfig("", "", ""); err == nil {
		t.Error("ServerTLSConfig without files: no error")
	}
	var nf *os.PathError
	if _, err := ServerTLSConfig("/nonexistent/cert.pem", "/nonexistent/key.pem", ""); !errors.As(err, &nf) {
		t.Errorf("ServerTLSConfig with missing files: %v", err)
	}
}

// TestPredictorOverTLSAndSCRAM runs the real producer and predictor against
// the embedded broker speaking TLS and requiring SCRAM-SHA-512: every
// request is predicted, stored and answered on the response topic, read
// back by a client with the same settings.
func TestPredictorOverTLSAndSCRAM(t *testing.T) {
	pki := testpki.New(t)
	b := secureBroker(t, &pki, false, BrokerUser{Mechanism: MechanismSCRAMSHA512, Name: "predictor", Password: testPassword})
	sec := Security{TLSCAFile: pki.CA, SASLMechanism: MechanismSCRAMSHA512, SASLUsername: "predictor", SASLPassword: testPassword}
	brokers := []string{b.Addr()}
	opts, err := sec.ClientOpts(brokers)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "flights.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	topics := DefaultTopics()
	prod, err := NewProducer(brokers, topics.Request, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, prod.Client(), 2, topics.All()...); err != nil {
		t.Fatal(err)
	}
	s := &stack{broker: b, store: &watchedStore{Store: st}, prod: prod, topics: topics}
	p := s.predictorWith(t, func(c *PredictorConfig) { c.ClientOpts = opts })
	_, stop := run(p)
	defer stop()

	reqs := requests(t, 40)
	publishAll(t, s, reqs)
	waitCount(t, st, int64(len(reqs)), 30*time.Second)
	checkAll(t, st, reqs)

	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Response),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	answered := map[string]bool{}
	for len(answered) < len(reqs) {
		fetches := cons.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			t.Fatalf("response topic, %d of %d answers read: %v", len(answered), len(reqs), err)
		}
		for _, r := range fetches.Records() {
			answered[string(r.Key)] = true
		}
	}
	for _, r := range reqs {
		if !answered[r.UUID] {
			t.Errorf("no response for %s", r.UUID)
		}
	}
	if got := p.Stats(); got.DeadLettered != 0 || got.Stored < int64(len(reqs)) {
		t.Errorf("stats %+v", got)
	}
}
