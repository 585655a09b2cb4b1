// Package testpki makes a throwaway private CA with a broker (server) and a
// client certificate, as PEM files, for tests of TLS connections (the Kafka
// client settings in flights/stream and the commands that use them). The
// keys are generated per test and never committed.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a private CA with a broker certificate for 127.0.0.1 and
// localhost and a client certificate: the paths of their PEM files.
type PKI struct {
	// CA signed ServerCert and ClientCert.
	CA string
	// ServerCert and ServerKey are the broker's certificate and key.
	ServerCert, ServerKey string
	// ClientCert and ClientKey are a client's, for mutual TLS.
	ClientCert, ClientKey string
	// OtherCA is a CA that signed none of them.
	OtherCA string
}

// New writes a fresh CA, a broker certificate (DNS localhost and
// broker.datalab.test, IP 127.0.0.1) and a client certificate, with their
// keys, into a directory of t's, valid for a day.
func New(t testing.TB) PKI {
	t.Helper()
	dir := t.TempDir()
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	serial := int64(1)
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k, der
	}
	ca, caKey, caDER := newCA("datalab test CA")
	_, _, otherDER := newCA("some other CA")
	leaf := func(name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) ([]byte, []byte) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: dns, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, keyDER(k)
	}
	sDER, sKey := leaf("broker", x509.ExtKeyUsageServerAuth, []string{"localhost", "broker.datalab.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	cDER, cKey := leaf("predictor", x509.ExtKeyUsageClientAuth, nil, nil)
	return PKI{
		CA:         writePEM("ca.pem", "CERTIFICATE", caDER),
		OtherCA:    writePEM("other-ca.pem", "CERTIFICATE", otherDER),
		ServerCert: writePEM("broker.pem", "CERTIFICATE", sDER),
		ServerKey:  writePEM("broker-key.pem", "PRIVATE KEY", sKey),
		ClientCert: writePEM("client.pem", "CERTIFICATE", cDER),
		ClientKey:  writePEM("client-key.pem", "PRIVATE KEY", cKey),
	}
}
