package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms Security accepts, spelled as Kafka spells them
// (sasl.mechanism in a Kafka client's properties).
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismAWSMSKIAM   = "AWS_MSK_IAM"
)

// Mechanisms lists the SASL mechanisms Security accepts.
func Mechanisms() []string {
	return []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512, MechanismAWSMSKIAM}
}

// Security is how a Kafka client connects: TLS (a private CA, a client
// certificate for mutual TLS, the server name to verify) and SASL
// authentication. The zero value is a plaintext, unauthenticated
// connection, which is what the embedded broker on loopback takes.
//
// Managed Kafka wants TLS plus one of the mechanisms: AWS MSK IAM
// (TLS + AWS_MSK_IAM, port 9098), MSK SCRAM (TLS + SCRAM-SHA-512, port
// 9096), Confluent Cloud (TLS + PLAIN with an API key and secret).
// docs/kafka-security.md has the exact settings.
//
// The password never leaves ClientOpts: String and LogValue show it as
// "[REDACTED]", and no error quotes it.
type Security struct {
	// TLS dials the brokers with TLS, verifying them against the system
	// roots, or TLSCAFile when set. Setting any other TLS field implies it.
	TLS bool
	// TLSCAFile is a PEM file of the CA certificates that signed the
	// brokers' certificates (a private CA); empty trusts the system roots.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client's PEM certificate and key
	// for brokers that require mutual TLS; both or neither.
	TLSCertFile, TLSKeyFile string
	// TLSServerName overrides the name the brokers' certificates are
	// verified against (default: the host of each broker address).
	TLSServerName string
	// TLSInsecureSkipVerify accepts any broker certificate. It defeats TLS
	// against an active attacker: only for trying a broker whose CA is not
	// at hand, never in production.
	TLSInsecureSkipVerify bool

	// SASLMechanism is one of Mechanisms(), or empty for no SASL.
	SASLMechanism string
	// SASLUsername and SASLPassword are the credentials of PLAIN and SCRAM
	// (for Confluent Cloud: the API key and secret). AWS_MSK_IAM takes no
	// username or password: it signs with AWS credentials.
	SASLUsername, SASLPassword string

	// AWSCredentials provides the credentials AWS_MSK_IAM signs with; nil
	// loads the AWS SDK's default chain (environment, shared config, web
	// identity, ECS/EC2 role) on the first connection, and the SDK
	// refreshes them before they expire.
	AWSCredentials aws.CredentialsProvider
}

// tlsEnabled reports whether the connection uses TLS.
func (s Security) tlsEnabled() bool {
	return s.TLS || s.TLSCAFile != "" || s.TLSCertFile != "" || s.TLSKeyFile != "" ||
		s.TLSServerName != "" || s.TLSInsecureSkipVerify
}

// mechanism returns the canonical spelling of s.SASLMechanism.
func (s Security) mechanism() (string, error) {
	m := strings.ToUpper(strings.TrimSpace(s.SASLMechanism))
	switch m {
	case "", MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512, MechanismAWSMSKIAM:
		return m, nil
	case "AWS-MSK-IAM", "MSK_IAM", "IAM":
		return MechanismAWSMSKIAM, nil
	}
	return "", fmt.Errorf("kafka SASL mechanism %q: want one of %s", s.SASLMechanism, strings.Join(Mechanisms(), ", "))
}

// Validate checks the settings are complete and consistent for the given
// seed brokers, without reading any file. PLAIN without TLS is refused
// unless every broker is on loopback: it would send the password in clear
// text over the network.
func (s Security) Validate(brokers []string) error {
	m, err := s.mechanism()
	if err != nil {
		return err
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return errors.New("kafka TLS: a client certificate needs its key and a key its certificate: set both --kafka-tls-cert and --kafka-tls-key, or neither")
	}
	switch m {
	case "":
		if s.SASLUsername != "" || s.SASLPassword != "" {
			return errors.New("kafka SASL: a username or password is set but no mechanism: set --kafka-sasl-mechanism (" + strings.Join(Mechanisms(), ", ") + ")")
		}
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		if s.SASLUsername == "" || s.SASLPassword == "" {
			return fmt.Errorf("kafka SASL %s needs a username and a password: set --kafka-sasl-username and DATALAB_KAFKA_SASL_PASSWORD (or --kafka-sasl-password-file)", m)
		}
		if m == MechanismPlain && !s.tlsEnabled() && !allLoopback(brokers) {
			return errors.New("kafka SASL PLAIN without TLS would send the password in clear text: add --kafka-tls (managed Kafka always speaks TLS on its SASL port)")
		}
	case MechanismAWSMSKIAM:
		if s.SASLUsername != "" || s.SASLPassword != "" {
			return errors.New("kafka SASL AWS_MSK_IAM signs with AWS credentials (environment, shared config or the instance role): unset the SASL username and password")
		}
		if !s.tlsEnabled() {
			return errors.New("kafka SASL AWS_MSK_IAM needs TLS (MSK's IAM listener, port 9098, only speaks TLS): add --kafka-tls")
		}
	}
	return nil
}

// allLoopback reports whether every broker address is on loopback.
func allLoopback(brokers []string) bool {
	for _, b := range brokers {
		host, _, err := net.SplitHostPort(b)
		if err != nil {
			host = b
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return len(brokers) > 0
}

// ClientOpts validates s for brokers, reads the certificate files and
// returns the franz-go options that connect with TLS and SASL (none for
// the zero Security). Pass them to NewProducer, PredictorConfig.ClientOpts
// or any kgo.NewClient.
func (s Security) ClientOpts(brokers []string) ([]kgo.Opt, error) {
	if err := s.Validate(brokers); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if s.tlsEnabled() {
		cfg, err := s.clientTLS()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	mech, err := s.saslMechanism()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// clientTLS builds the client's TLS configuration from the files.
func (s Security) clientTLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.TLSServerName,
		InsecureSkipVerify: s.TLSInsecureSkipVerify} //nolint:gosec // only with the explicit --kafka-tls-insecure-skip-verify
	if s.TLSCAFile != "" {
		pool, err := LoadCertPool(s.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS CA: %w", err)
		}
		cfg.RootCAs = pool
	}
	if s.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS client certificate %s / key %s: %w (want PEM files)", s.TLSCertFile, s.TLSKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// LoadCertPool reads a PEM file of CA certificates.
func LoadCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// saslMechanism returns the franz-go mechanism, nil for none.
func (s Security) saslMechanism() (sasl.Mechanism, error) {
	m, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	switch m {
	case MechanismPlain:
		return plain.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsMechanism(), nil
	case MechanismSCRAMSHA256:
		return scram.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsSha256Mechanism(), nil
	case MechanismSCRAMSHA512:
		return scram.Auth{User: s.SASLUsername, Pass: s.SASLPassword}.AsSha512Mechanism(), nil
	case MechanismAWSMSKIAM:
		return saslaws.ManagedStreamingIAM(awsCredentials(s.AWSCredentials)), nil
	}
	return nil, nil
}

// awsCredentials returns the function AWS_MSK_IAM calls on every
// connection. The default chain is loaded lazily (a client that never
// connects needs no AWS configuration) and once; its cache refreshes
// expiring credentials (instance roles, web identity).
func awsCredentials(p aws.CredentialsProvider) func(context.Context) (saslaws.Auth, error) {
	var (
		once    sync.Once
		loadErr error
	)
	return func(ctx context.Context) (saslaws.Auth, error) {
		once.Do(func() {
			if p != nil {
				return
			}
			cfg, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				loadErr = fmt.Errorf("kafka AWS_MSK_IAM: load AWS configuration: %w", err)
				return
			}
			p = cfg.Credentials
		})
		if loadErr != nil {
			return saslaws.Auth{}, loadErr
		}
		if p == nil {
			return saslaws.Auth{}, errors.New("kafka AWS_MSK_IAM: no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance or pod role")
		}
		c, err := p.Retrieve(ctx)
		if err != nil {
			return saslaws.Auth{}, fmt.Errorf("kafka AWS_MSK_IAM: AWS credentials: %w", err)
		}
		return saslaws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			UserAgent: "datalab"}, nil
	}
}

// saslRefusedHint is what Explain adds to a connection the broker closed
// during authentication.
const saslRefusedHint = "check the SASL mechanism, username and password"

// Explain adds a hint to err when SASL is configured and the broker closed
// the connection: some brokers (kfake, older Kafka) refuse bad credentials
// by hanging up, which franz-go reports as a bare EOF. Other errors,
// including Kafka's own SASL_AUTHENTICATION_FAILED, pass unchanged.
func (s Security) Explain(err error) error {
	if err == nil || s.SASLMechanism == "" {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w (the broker closed the connection while authenticating as %q with %s: %s)",
			err, s.SASLUsername, s.SASLMechanism, saslRefusedHint)
	}
	return err
}

// String describes s without the password, for logs and errors.
func (s Security) String() string {
	var parts []string
	if s.tlsEnabled() {
		t := "tls"
		if s.TLSCAFile != "" {
			t += " ca=" + s.TLSCAFile
		}
		if s.TLSCertFile != "" {
			t += " cert=" + s.TLSCertFile
		}
		if s.TLSServerName != "" {
			t += " server-name=" + s.TLSServerName
		}
		if s.TLSInsecureSkipVerify {
			t += " INSECURE-SKIP-VERIFY"
		}
		parts = append(parts, t)
	}
	if s.SASLMechanism != "" {
		a := "sasl " + s.SASLMechanism
		if s.SASLUsername != "" {
			a += " user=" + s.SASLUsername
		}
		if s.SASLPassword != "" {
			a += " password=[REDACTED]"
		}
		parts = append(parts, a)
	}
	if len(parts) == 0 {
		return "plaintext"
	}
	return strings.Join(parts, ", ")
}

// LogValue logs s as String does: the password is never logged.
func (s Security) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString keeps %#v from printing the password.
func (s Security) GoString() string { return "stream.Security{" + s.String() + "}" }
