package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/datalabhq/datalab/flights/stream"
)

// kafkaSecurityHelp is the part of --help of every Kafka command that says
// how to connect to a managed Kafka; docs/kafka-security.md has the rest.
const kafkaSecurityHelp = `
Kafka security (flags or DATALAB_KAFKA_* variables; docs/kafka-security.md):
  AWS MSK, IAM:    --kafka-tls --kafka-sasl-mechanism AWS_MSK_IAM   (port 9098; AWS credentials
                   from the environment, shared config or the instance/pod role)
  AWS MSK, SCRAM:  --kafka-tls --kafka-sasl-mechanism SCRAM-SHA-512 --kafka-sasl-username U   (port 9096)
  Confluent Cloud: --kafka-tls --kafka-sasl-mechanism PLAIN --kafka-sasl-username API_KEY     (port 9092)
The SASL password (Confluent: the API secret) comes only from the variable
DATALAB_KAFKA_SASL_PASSWORD or the file --kafka-sasl-password-file, never
from a flag value (visible to every user in ps), and is never logged.`

// kafkaFlags are the Kafka connection settings of every command that talks
// to Kafka (predictor, serve-flights, up) and the SASL user of the embedded
// broker (broker, up): one definition, so they read the same flags and
// variables everywhere.
type kafkaFlags struct {
	tls, insecureSkipVerify               bool
	caFile, certFile, keyFile, serverName string
	mechanism, username, passwordFile     string
}

// envBool reads a boolean variable for a flag default; a value that is not
// a boolean is reported when the flags are used (see kafkaFlags.security).
func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

// register adds the client flags (TLS and SASL) to f.
func (k *kafkaFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&k.tls, "kafka-tls", envBool("DATALAB_KAFKA_TLS"), "connect to Kafka with TLS, trusting the system roots or --kafka-tls-ca (env DATALAB_KAFKA_TLS)")
	f.StringVar(&k.caFile, "kafka-tls-ca", os.Getenv("DATALAB_KAFKA_TLS_CA"), "PEM file of the CA that signed the brokers' certificates; implies --kafka-tls (env DATALAB_KAFKA_TLS_CA)")
	f.StringVar(&k.certFile, "kafka-tls-cert", os.Getenv("DATALAB_KAFKA_TLS_CERT"), "client certificate (PEM) for brokers that require mutual TLS (env DATALAB_KAFKA_TLS_CERT)")
	f.StringVar(&k.keyFile, "kafka-tls-key", os.Getenv("DATALAB_KAFKA_TLS_KEY"), "key (PEM) of --kafka-tls-cert (env DATALAB_KAFKA_TLS_KEY)")
	f.StringVar(&k.serverName, "kafka-tls-server-name", os.Getenv("DATALAB_KAFKA_TLS_SERVER_NAME"), "name to verify the brokers' certificates against instead of their host (env DATALAB_KAFKA_TLS_SERVER_NAME)")
	f.BoolVar(&k.insecureSkipVerify, "kafka-tls-insecure-skip-verify", envBool("DATALAB_KAFKA_TLS_INSECURE_SKIP_VERIFY"), "accept any broker certificate: anyone on the path can read and change the traffic; never in production (env DATALAB_KAFKA_TLS_INSECURE_SKIP_VERIFY)")
	k.registerSASL(f)
}

// registerSASL adds the SASL flags only (the embedded broker's user).
func (k *kafkaFlags) registerSASL(f *pflag.FlagSet) {
	f.StringVar(&k.mechanism, "kafka-sasl-mechanism", os.Getenv("DATALAB_KAFKA_SASL_MECHANISM"), "SASL mechanism: "+strings.Join(stream.Mechanisms(), ", ")+"; empty for none (env DATALAB_KAFKA_SASL_MECHANISM)")
	f.StringVar(&k.username, "kafka-sasl-username", os.Getenv("DATALAB_KAFKA_SASL_USERNAME"), "SASL username (Confluent Cloud: the API key) (env DATALAB_KAFKA_SASL_USERNAME)")
	f.StringVar(&k.passwordFile, "kafka-sasl-password-file", os.Getenv("DATALAB_KAFKA_SASL_PASSWORD_FILE"), "file holding the SASL password (one trailing newline is ignored); else the password is read from env DATALAB_KAFKA_SASL_PASSWORD (env DATALAB_KAFKA_SASL_PASSWORD_FILE)")
}

// security resolves the settings, reading the password now (from the
// file, else DATALAB_KAFKA_SASL_PASSWORD) so that it is never a flag
// default printed by --help.
func (k *kafkaFlags) security() (stream.Security, error) {
	for _, v := range []string{"DATALAB_KAFKA_TLS", "DATALAB_KAFKA_TLS_INSECURE_SKIP_VERIFY"} {
		if s := os.Getenv(v); s != "" {
			if _, err := strconv.ParseBool(s); err != nil {
				return stream.Security{}, fmt.Errorf("%s=%q: want true or false", v, s)
			}
		}
	}
	s := stream.Security{TLS: k.tls, TLSCAFile: k.caFile, TLSCertFile: k.certFile, TLSKeyFile: k.keyFile,
		TLSServerName: k.serverName, TLSInsecureSkipVerify: k.insecureSkipVerify,
		SASLMechanism: k.mechanism, SASLUsername: k.username, SASLPassword: os.Getenv("DATALAB_KAFKA_SASL_PASSWORD")}
	// The file is read only for a mechanism with a password: deploys mount
	// one (possibly empty) file whether SASL is on or not.
	if m := strings.ToUpper(k.mechanism); k.passwordFile != "" && m != "" && m != stream.MechanismAWSMSKIAM {
		b, err := os.ReadFile(k.passwordFile)
		if err != nil {
			// The error names the file, never its content.
			return stream.Security{}, fmt.Errorf("kafka SASL password file: %w", err)
		}
		s.SASLPassword = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s.SASLPassword == "" {
			return stream.Security{}, fmt.Errorf("kafka SASL password file %s is empty", k.passwordFile)
		}
	}
	return s, nil
}

// brokerUsers is the embedded broker's SASL user: the one the clients
// authenticate as, so one set of DATALAB_KAFKA_SASL_* variables configures
// both sides. None when no mechanism is set.
func (k *kafkaFlags) brokerUsers() ([]stream.BrokerUser, error) {
	s, err := k.security()
	if err != nil || s.SASLMechanism == "" {
		return nil, err
	}
	m := strings.ToUpper(s.SASLMechanism)
	if m == stream.MechanismAWSMSKIAM {
		return nil, errors.New("the embedded broker cannot check AWS_MSK_IAM (only MSK can): use PLAIN or SCRAM-SHA-256/512 with it, or point --brokers at MSK")
	}
	if s.SASLUsername == "" || s.SASLPassword == "" {
		return nil, fmt.Errorf("the embedded broker's SASL %s user needs --kafka-sasl-username and DATALAB_KAFKA_SASL_PASSWORD (or --kafka-sasl-password-file)", m)
	}
	return []stream.BrokerUser{{Mechanism: m, Name: s.SASLUsername, Password: s.SASLPassword}}, nil
}

// brokerTLSFlags are the embedded broker's server certificate settings,
// under prefix ("tls-" for `datalab broker`, "broker-tls-" for `up`).
type brokerTLSFlags struct {
	certFile, keyFile, clientCAFile string
}

func (b *brokerTLSFlags) register(f *pflag.FlagSet, prefix string) {
	f.StringVar(&b.certFile, prefix+"cert", os.Getenv("DATALAB_BROKER_TLS_CERT"), "embedded broker: serve TLS with this PEM certificate (env DATALAB_BROKER_TLS_CERT); clients then need --kafka-tls-ca")
	f.StringVar(&b.keyFile, prefix+"key", os.Getenv("DATALAB_BROKER_TLS_KEY"), "embedded broker: key (PEM) of the certificate (env DATALAB_BROKER_TLS_KEY)")
	f.StringVar(&b.clientCAFile, prefix+"client-ca", os.Getenv("DATALAB_BROKER_TLS_CLIENT_CA"), "embedded broker: require client certificates signed by this PEM CA (env DATALAB_BROKER_TLS_CLIENT_CA)")
}

// config returns the broker's TLS configuration, nil without a certificate.
func (b *brokerTLSFlags) config() (*tls.Config, error) {
	if b.certFile == "" && b.keyFile == "" && b.clientCAFile == "" {
		return nil, nil
	}
	return stream.ServerTLSConfig(b.certFile, b.keyFile, b.clientCAFile)
}
