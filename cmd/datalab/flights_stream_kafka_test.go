package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/internal/testlog"
	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/datalabhq/datalab/internal/testpki"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaTestPassword is the SASL password of TestKafkaSecurityCommands; no
// output of any process may contain it.
const kafkaTestPassword = "cli-Kafka-pa55word-never-logged"

// process is a datalab command running in the background.
type process struct {
	cmd  *exec.Cmd
	out  testlog.Buffer // stdout and stderr
	done chan struct{}
	err  error
}

// output is what the process printed so far.
func (p *process) output() string { return p.out.String() }

// startDatalab starts bin with args and env (added to this process's
// environment minus any DATALAB_KAFKA_* variable); the process is
// stopped at the end of the test.
func startDatalab(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATALAB_KAFKA_") && !strings.HasPrefix(kv, "DATALAB_BROKER") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("datalab %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

// waitHTTP waits until GET url answers 200.
func waitHTTP(t *testing.T, u string, procs ...*process) {
	t.Helper()
	testwait.Until(t, 60*time.Second, 100*time.Millisecond, u+" to answer 200", func() bool {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		for _, p := range procs {
			select {
			case <-p.done:
				t.Fatalf("datalab %v exited (%v) before %s answered:\n%s", p.cmd.Args[1:], p.err, u, p.output())
			default:
			}
		}
		return false
	})
}

// TestKafkaSecurityCommands runs `datalab broker` with TLS and a
// SCRAM-SHA-512 user, `datalab predictor` and `datalab serve-flights` as
// separate processes configured only through DATALAB_KAFKA_* variables
// (the password from a file), and answers a form POST through them. A
// predictor with a wrong password (from DATALAB_KAFKA_SASL_PASSWORD) exits
// with a message saying what to check; one without TLS says TLS is
// missing. The password appears in no output.
func TestKafkaSecurityCommands(t *testing.T) {
	t.Parallel()
	model, distances := flighttest.ModelDir(t), flighttest.DistancesPath(t)
	bin := buildDatalab(t)
	pki := testpki.New(t)
	dir := t.TempDir()
	passFile := filepath.Join(dir, "kafka-password")
	if err := os.WriteFile(passFile, []byte(kafkaTestPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokerAddr, predictorAddr, appAddr := testnet.FreeAddr(t), testnet.FreeAddr(t), testnet.FreeAddr(t)
	store := filepath.Join(dir, "flights.sqlite")
	kafkaEnv := []string{
		"DATALAB_BROKERS=" + brokerAddr,
		"DATALAB_KAFKA_TLS_CA=" + pki.CA,
		"DATALAB_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"DATALAB_KAFKA_SASL_USERNAME=datalab",
		"DATALAB_KAFKA_SASL_PASSWORD_FILE=" + passFile,
		"DATALAB_FLIGHT_STORE=" + store,
		"DATALAB_FLIGHT_MODEL=" + model,
		"DATALAB_FLIGHT_DISTANCES=" + distances,
	}

	broker := startDatalab(t, bin, append(kafkaEnv, "DATALAB_BROKER_TLS_CERT="+pki.ServerCert, "DATALAB_BROKER_TLS_KEY="+pki.ServerKey),
		"broker", "--addr", brokerAddr, "--data-dir", "")
	if !testwait.Poll(30*time.Second, 50*time.Millisecond, func() bool {
		if strings.Contains(broker.output(), "embedded broker listening") {
			return true
		}
		select {
		case <-broker.done:
			t.Fatalf("broker exited: %v\n%s", broker.err, broker.output())
		default:
		}
		return false
	}) {
		t.Fatalf("broker did not start:\n%s", broker.output())
	}
	// The broker took its TLS certificate and user from the variables: a
	// plaintext, anonymous client is refused.
	anon, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = anon.Ping(pctx)
	cancel()
	anon.Close()
	if err == nil {
		t.Fatal("datalab broker accepted a plaintext, anonymous client: DATALAB_BROKER_TLS_* and DATALAB_KAFKA_SASL_* were ignored")
	}
	predictor := startDatalab(t, bin, kafkaEnv, "predictor", "--addr", predictorAddr, "--partitions", "1")
	app := startDatalab(t, bin, kafkaEnv, "serve-flights", "--addr", appAddr, "--partitions", "1")
	waitHTTP(t, "http://"+predictorAddr+"/healthz", predictor)
	waitHTTP(t, "http://"+appAddr+"/healthz", app)

	resp, err := http.PostForm("http://"+appAddr+"/flights/delays/predict/classify_realtime",
		url.Values{"DepDelay": {"5"}, "Carrier": {"AA"}, "FlightDate": {"2016-12-25"}, "Origin": {"ATL"}, "Dest": {"SFO"}})
	if err != nil {
		t.Fatal(err)
	}
	var posted struct{ Status, ID string }
	err = json.NewDecoder(resp.Body).Decode(&posted)
	resp.Body.Close()
	if err != nil || posted.ID == "" {
		t.Fatalf("POST: %d %+v %v", resp.StatusCode, posted, err)
	}
	var status string
	if !testwait.Poll(30*time.Second, 50*time.Millisecond, func() bool {
		resp, err := http.Get("http://" + appAddr + "/flights/delays/predict/classify_realtime/response/" + posted.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Status string }
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		status = got.Status
		return status == "OK"
	}) {
		t.Fatalf("no prediction for %s within 30s (last status %q)", posted.ID, status)
	}

	// Wrong password, given by variable this time; and no TLS.
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"wrong password", []string{"DATALAB_KAFKA_SASL_PASSWORD_FILE=", "DATALAB_KAFKA_SASL_PASSWORD=wrong-" + kafkaTestPassword}, "check the SASL mechanism, username and password"},
		{"no tls", []string{"DATALAB_KAFKA_TLS_CA="}, "is TLS missing?"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, bin, "predictor", "--addr", "", "--partitions", "1")
		cmd.WaitDelay = 5 * time.Second
		cmd.Env = append(append(os.Environ(), kafkaEnv...), tc.env...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: predictor %v, want it to exit saying %q:\n%s", tc.name, err, tc.want, out)
		}
		if strings.Contains(string(out), kafkaTestPassword) {
			t.Errorf("%s: the predictor printed the password:\n%s", tc.name, out)
		}
	}

	for name, p := range map[string]*process{"broker": broker, "predictor": predictor, "serve-flights": app} {
		if out := p.output(); strings.Contains(out, kafkaTestPassword) {
			t.Errorf("%s printed the password:\n%s", name, out)
		}
	}
}

// TestKafkaFlagsEverywhere checks every command that talks to Kafka takes
// the same Kafka security flags, each naming its DATALAB_KAFKA_* variable
// in --help, and none takes a password as a flag value.
func TestKafkaFlagsEverywhere(t *testing.T) {
	flags := map[string]string{
		"kafka-tls":                      "DATALAB_KAFKA_TLS",
		"kafka-tls-ca":                   "DATALAB_KAFKA_TLS_CA",
		"kafka-tls-cert":                 "DATALAB_KAFKA_TLS_CERT",
		"kafka-tls-key":                  "DATALAB_KAFKA_TLS_KEY",
		"kafka-tls-server-name":          "DATALAB_KAFKA_TLS_SERVER_NAME",
		"kafka-tls-insecure-skip-verify": "DATALAB_KAFKA_TLS_INSECURE_SKIP_VERIFY",
		"kafka-sasl-mechanism":           "DATALAB_KAFKA_SASL_MECHANISM",
		"kafka-sasl-username":            "DATALAB_KAFKA_SASL_USERNAME",
		"kafka-sasl-password-file":       "DATALAB_KAFKA_SASL_PASSWORD_FILE",
	}
	for _, name := range []string{"predictor", "serve-flights", "up"} {
		cmd, _, err := rootCmd.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		for f, env := range flags {
			fl := cmd.Flags().Lookup(f)
			if fl == nil {
				t.Errorf("datalab %s has no --%s", name, f)
				continue
			}
			if !strings.Contains(fl.Usage, env) {
				t.Errorf("datalab %s --%s: usage %q does not name %s", name, f, fl.Usage, env)
			}
		}
		if cmd.Flags().Lookup("kafka-sasl-password") != nil {
			t.Errorf("datalab %s takes the password as a flag (visible in ps): only DATALAB_KAFKA_SASL_PASSWORD or a file", name)
		}
		if !strings.Contains(cmd.Long+cmd.Flags().FlagUsages(), "DATALAB_KAFKA_SASL_PASSWORD") {
			t.Errorf("datalab %s --help does not say where the password comes from", name)
		}
	}
	for _, name := range []string{"broker", "up"} {
		cmd, _, _ := rootCmd.Find([]string{name})
		prefix := map[string]string{"broker": "tls-", "up": "broker-tls-"}[name]
		for _, f := range []string{"cert", "key"} {
			if cmd.Flags().Lookup(prefix+f) == nil {
				t.Errorf("datalab %s has no --%s%s", name, prefix, f)
			}
		}
	}
}
