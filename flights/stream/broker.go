package stream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is an embedded Kafka-protocol broker (franz-go's kfake, one node)
// listening on a fixed loopback address, so that clients reconnect to the
// same address after a restart. With a data directory its topics, records
// and committed group offsets survive a restart.
//
// It can speak TLS and require SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
// so that the stack's client settings can be tried locally, and so that
// other users of a shared machine, who can reach loopback too, cannot
// read or write its topics.
type Broker struct {
	c       *kfake.Cluster
	addr    string
	dataDir string
}

// BrokerUser is a SASL user of the embedded broker.
type BrokerUser struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	// Name and Password are the credentials.
	Name, Password string
}

// BrokerConfig configures StartBroker.
type BrokerConfig struct {
	// Addr is host:port to listen on, e.g. 127.0.0.1:9092; port 0 picks a
	// free one. The host must be a loopback address: the embedded broker is
	// for one machine (for a network-facing broker run real Kafka).
	Addr string
	// DataDir, when set, persists the broker's state there.
	DataDir string
	// Partitions is the default for topics created without a count.
	Partitions int
	// Logger receives the broker's warnings and errors; nil discards them.
	Logger *slog.Logger
	// TLS, when set, makes the broker speak only TLS with this server
	// configuration (ServerTLSConfig builds one from PEM files).
	TLS *tls.Config
	// Users, when set, makes the broker require SASL: a client must
	// authenticate as one of them (each is a superuser). The users are
	// taken from here on every start, never from DataDir.
	Users []BrokerUser
}

// StartBroker starts the embedded broker.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w (want e.g. 127.0.0.1:9092)", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("embedded broker address %q: listen on a loopback address (127.0.0.1); for a network-facing broker run real Kafka", cfg.Addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded broker address %q: bad port", cfg.Addr)
	}
	if port == 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.ClusterID("datalab-embedded"),
		// A predictor that died without leaving its group is replaced
		// after this long at most (the client asks for its own timeout).
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.Partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(cfg.Partitions))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(kfakeLogger{cfg.Logger}))
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.Users {
			switch u.Mechanism {
			case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
			default:
				return nil, fmt.Errorf("embedded broker user %q: mechanism %q: the embedded broker speaks PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (AWS_MSK_IAM is MSK's own)", u.Name, u.Mechanism)
			}
			if u.Name == "" || u.Password == "" {
				return nil, fmt.Errorf("embedded broker user %q (%s): a name and a password are required", u.Name, u.Mechanism)
			}
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if cfg.DataDir != "" {
		// kfake restores SASL users from the data directory over the
		// configured ones, and writes PLAIN passwords there in clear text:
		// drop them, so the configured users are the only ones (a changed
		// password takes effect) and no password is kept at rest.
		if err := removeSASLState(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", cfg.Addr, err)
	}
	return &Broker{c: c, addr: c.ListenAddrs()[0], dataDir: cfg.DataDir}, nil
}

// saslStateFile is where kfake keeps SASL users in its data directory.
const saslStateFile = "sasl.json"

func removeSASLState(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, saslStateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded broker: remove saved SASL users: %w", err)
	}
	return nil
}

// ServerTLSConfig builds the embedded broker's TLS configuration from a
// PEM certificate and key and, when clientCAFile is set, requires clients
// to present a certificate signed by one of its CAs (mutual TLS).
func ServerTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("embedded broker TLS: a certificate and its key are both required")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("embedded broker TLS certificate %s / key %s: %w (want PEM files)", certFile, keyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if clientCAFile != "" {
		pool, err := LoadCertPool(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("embedded broker TLS client CA: %w", err)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Addr is the address clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, saving its state when it has a data directory
// (without its SASL users: see BrokerConfig.Users).
func (b *Broker) Close() {
	b.c.Close()
	if b.dataDir != "" {
		if err := removeSASLState(b.dataDir); err != nil {
			slog.Warn("embedded broker: saved SASL users (passwords) left on disk", "err", err)
		}
	}
}

// kfakeLogger forwards kfake's warnings and errors to slog.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		k.l.Error("embedded broker: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		k.l.Warn("embedded broker: " + fmt.Sprintf(msg, args...))
	}
}
