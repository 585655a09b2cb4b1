package gce_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	compute "google.golang.org/api/compute/v1"

	"github.com/datalabhq/datalab/internal/golden"
	"github.com/datalabhq/datalab/ops/deploy"
	"github.com/datalabhq/datalab/ops/deploy/gce"
	"github.com/datalabhq/datalab/ops/deploy/internal/fakecloud"
)

const (
	project = "lab-project"
	zone    = "europe-west1-b"
)

func baseConfig() gce.Config {
	return gce.Config{
		Project: project, Zone: zone,
		Stack:        deploy.Stack{DBSecret: "projects/lab-project/secrets/datalab-db"},
		PollInterval: time.Millisecond,
	}
}

var quiet = fakecloud.Quiet

func newDeployer(t *testing.T, fake *fakecloud.GCE, cfg gce.Config) *gce.Deployer {
	t.Helper()
	d, err := gce.New(context.Background(), cfg, quiet, fake.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func deployOnce(t *testing.T, fake *fakecloud.GCE, cfg gce.Config) *deploy.Deployment {
	t.Helper()
	return fakecloud.Deploy(t, newDeployer(t, fake, cfg))
}

func TestDeployCreatesFirewallAndVMThenIsIdempotent(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	dep := deployOnce(t, fake, baseConfig())
	if got := dep.Plan.Count(deploy.Create); got != 2 {
		t.Errorf("first plan creates %d resources, want 2 (web firewall, VM):\n%s", got, dep.Plan.String())
	}
	// Reads first (both firewalls, the VM), then each insert followed by
	// polling its operation, global for the firewall, zonal for the VM.
	var calls []string
	for _, r := range fake.Requests() {
		a := r.Action
		if i := strings.Index(a, "/operations/"); i >= 0 {
			a = a[:i] + "/operations/…"
		}
		calls = append(calls, a)
	}
	want := []string{
		"GET global/firewalls/datalab-web",
		"GET global/firewalls/datalab-ssh-iap",
		"GET zones/" + zone + "/instances/datalab",
		"POST global/firewalls",
		"GET global/operations/…",
		"POST zones/" + zone + "/instances",
		"GET zones/" + zone + "/operations/…",
		"GET zones/" + zone + "/instances/datalab",
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(calls, "\n  "), strings.Join(want, "\n  "))
	}
	if dep.URL != "http://203.0.113.10/" {
		t.Errorf("URL = %q, want the VM's external address", dep.URL)
	}

	fws, err := fake.FirewallRequests()
	if err != nil {
		t.Fatal(err)
	}
	if len(fws) != 1 {
		t.Fatalf("%d firewall requests, want 1", len(fws))
	}
	fw := fws[0]
	if fw.Name != "datalab-web" || fw.Direction != "INGRESS" || !slices.Equal(fw.SourceRanges, []string{"0.0.0.0/0"}) ||
		!slices.Equal(fw.TargetTags, []string{"datalab"}) || fw.Network != "global/networks/default" ||
		len(fw.Allowed) != 1 || fw.Allowed[0].IPProtocol != "tcp" || !slices.Equal(fw.Allowed[0].Ports, []string{"80", "443"}) {
		b, _ := json.Marshal(fw)
		t.Errorf("web firewall request = %s", b)
	}

	in := insertedInstance(t, fake)
	if in.MachineType != "zones/"+zone+"/machineTypes/e2-small" {
		t.Errorf("machineType = %q", in.MachineType)
	}
	if d := in.Disks[0]; !d.Boot || !d.AutoDelete || d.InitializeParams.SourceImage != gce.DefaultImage {
		t.Errorf("boot disk = %+v %+v", d, d.InitializeParams)
	}
	if sa := in.ServiceAccounts[0]; sa.Email != "default" || !slices.Equal(sa.Scopes, []string{gce.CloudPlatformScope}) {
		t.Errorf("service account = %+v", sa)
	}
	if !slices.Equal(in.Tags.Items, []string{"datalab"}) {
		t.Errorf("network tags = %v, want the firewall's target tag", in.Tags.Items)
	}
	if s := in.ShieldedInstanceConfig; s == nil || !s.EnableSecureBoot || !s.EnableVtpm || !s.EnableIntegrityMonitoring {
		t.Errorf("shielded VM config = %+v", s)
	}
	md := metadata(in)
	script := md["startup-script"]
	for _, want := range []string{
		"https://secretmanager.googleapis.com/v1/projects/lab-project/secrets/datalab-db/versions/latest:access",
		deploy.DefaultComposeURL,
		"export DATALAB_HTTP_PORT=80",
		"compose --project-name datalab --file docker-compose.yml up --detach",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("startup script lacks %q", want)
		}
	}
	if md["enable-oslogin"] != "TRUE" || md["block-project-ssh-keys"] != "TRUE" {
		t.Errorf("metadata = %v, want OS Login on and project SSH keys blocked", md)
	}

	// A second deployment reads everything, finds nothing to do and calls
	// nothing that changes state.
	before := len(fake.Requests())
	dep2 := deployOnce(t, fake, baseConfig())
	if !dep2.Plan.Empty() {
		t.Errorf("second plan is not empty:\n%s", dep2.Plan.String())
	}
	for _, r := range fake.Requests()[before:] {
		if r.Method != http.MethodGet {
			t.Errorf("second deployment called %s", r.Action)
		}
	}
	if dep2.URL != "http://203.0.113.10/" {
		t.Errorf("second deployment URL = %q", dep2.URL)
	}
}

func insertedInstance(t *testing.T, fake *fakecloud.GCE) *compute.Instance {
	t.Helper()
	for _, r := range fake.Requests() {
		if r.Action == "POST zones/"+zone+"/instances" {
			in := new(compute.Instance)
			if err := json.Unmarshal(r.Body, in); err != nil {
				t.Fatal(err)
			}
			return in
		}
	}
	t.Fatal("no instance insert request")
	return nil
}

func metadata(in *compute.Instance) map[string]string {
	md := map[string]string{}
	for _, it := range in.Metadata.Items {
		md[it.Key] = *it.Value
	}
	return md
}

func TestUpdateMetadataAndTagsInPlaceKeepsOtherKeys(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	deployOnce(t, fake, baseConfig())

	// Someone added an SSH key by hand and dropped the network tag.
	in := fake.Instance(zone, "datalab")
	v := "alice:ssh-ed25519 AAAA alice"
	in.Metadata.Items = append(in.Metadata.Items, &compute.MetadataItems{Key: "ssh-keys", Value: &v})
	in.Tags.Items = []string{"other"}
	mdFingerprint, tagFingerprint := in.Metadata.Fingerprint, in.Tags.Fingerprint

	cfg := baseConfig()
	cfg.Stack.ComposeURL = "gs://lab-deploy/compose/docker-compose.yml"
	d := newDeployer(t, fake, cfg)
	dep, err := d.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dep.Plan.Count(deploy.Update) != 1 || len(dep.Plan.Changes) != 1 {
		t.Fatalf("plan:\n%s\nwant one instance update", dep.Plan.String())
	}
	golden.Check(t, "plan-update-instance.golden", dep.Plan.String())

	before := len(fake.Requests())
	if err := dep.Apply(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	var setMD compute.Metadata
	var setTags compute.Tags
	var actions []string
	for _, r := range fake.Requests()[before:] {
		switch {
		case strings.HasSuffix(r.Action, "/setMetadata"):
			json.Unmarshal(r.Body, &setMD)
		case strings.HasSuffix(r.Action, "/setTags"):
			json.Unmarshal(r.Body, &setTags)
		}
		if r.Method != http.MethodGet {
			actions = append(actions, r.Action)
		}
	}
	want := []string{"POST zones/" + zone + "/instances/datalab/setMetadata", "POST zones/" + zone + "/instances/datalab/setTags"}
	if !slices.Equal(actions, want) {
		t.Errorf("mutations = %v, want %v", actions, want)
	}
	if setMD.Fingerprint != mdFingerprint || setTags.Fingerprint != tagFingerprint {
		t.Errorf("fingerprints sent %q/%q, want the read ones %q/%q", setMD.Fingerprint, setTags.Fingerprint, mdFingerprint, tagFingerprint)
	}
	got := map[string]string{}
	for _, it := range setMD.Items {
		got[it.Key] = *it.Value
	}
	if got["ssh-keys"] != v {
		t.Errorf("setMetadata dropped a key the deployment does not own: %v", got)
	}
	if s := got["startup-script"]; !strings.Contains(s, "https://storage.googleapis.com/storage/v1/b/lab-deploy/o/compose%2Fdocker-compose.yml?alt=media") {
		t.Errorf("new startup script does not fetch the gs:// compose file through the storage API:\n%s", s)
	}
	if dep2, err := d.Plan(context.Background()); err != nil || !dep2.Plan.Empty() {
		t.Errorf("after the update: %v\n%s", err, dep2.Plan.String())
	}
}

func TestFirewallDriftIsCorrectedAndStraySSHRuleDeleted(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	deployOnce(t, fake, baseConfig())
	// By hand: the web rule widened to SSH and 8080, and an IAP SSH rule
	// left from a deployment with --ssh-via-iap.
	fw := fake.Firewall("datalab-web")
	fw.Allowed = append(fw.Allowed, &compute.FirewallAllowed{IPProtocol: "tcp", Ports: []string{"22", "8080"}})
	fake.PutFirewall(project, &compute.Firewall{
		Name: "datalab-ssh-iap", Network: "global/networks/default", Direction: "INGRESS",
		Allowed:      []*compute.FirewallAllowed{{IPProtocol: "tcp", Ports: []string{"22"}}},
		SourceRanges: []string{gce.IAPRange}, TargetTags: []string{"datalab"},
	})

	d := newDeployer(t, fake, baseConfig())
	dep, err := d.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "plan-firewall-drift.golden", dep.Plan.String())
	before := len(fake.Requests())
	if err := dep.Apply(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range fake.Requests()[before:] {
		if r.Method != http.MethodGet {
			actions = append(actions, r.Action)
		}
	}
	want := []string{"PUT global/firewalls/datalab-web", "DELETE global/firewalls/datalab-ssh-iap"}
	if !slices.Equal(actions, want) {
		t.Errorf("mutations = %v, want %v", actions, want)
	}
	if got := fake.Firewall("datalab-web"); len(got.Allowed) != 1 || !slices.Equal(got.Allowed[0].Ports, []string{"80", "443"}) {
		t.Errorf("web firewall after the update allows %+v", got.Allowed)
	}
	if fake.Firewall("datalab-ssh-iap") != nil {
		t.Error("the SSH rule is still there")
	}
}

func TestSSHViaIAPOpensPort22OnlyFromIAP(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	cfg := baseConfig()
	cfg.SSHViaIAP = true
	deployOnce(t, fake, cfg)
	ssh := fake.Firewall("datalab-ssh-iap")
	if ssh == nil {
		t.Fatal("no SSH firewall created")
	}
	if !slices.Equal(ssh.SourceRanges, []string{"35.235.240.0/20"}) || len(ssh.Allowed) != 1 ||
		!slices.Equal(ssh.Allowed[0].Ports, []string{"22"}) || !slices.Equal(ssh.TargetTags, []string{"datalab"}) {
		t.Errorf("SSH firewall = %+v %+v", ssh, ssh.Allowed[0])
	}
}

func TestReplaceNeedsRecreate(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	deployOnce(t, fake, baseConfig())

	cfg := baseConfig()
	cfg.MachineType = "e2-standard-2"
	dep, err := newDeployer(t, fake, cfg).Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dep.Plan.Count(deploy.Replace) != 1 {
		t.Fatalf("plan:\n%s\nwant the VM replaced", dep.Plan.String())
	}
	before := len(fake.Requests())
	err = dep.Apply(context.Background(), quiet)
	if err == nil || !strings.Contains(err.Error(), "--recreate") || !strings.Contains(err.Error(), "machineType e2-small → e2-standard-2") {
		t.Fatalf("apply without Recreate: %v, want an error asking for --recreate", err)
	}
	for _, r := range fake.Requests()[before:] {
		if r.Method != http.MethodGet {
			t.Errorf("apply without Recreate called %s", r.Action)
		}
	}

	cfg.Recreate = true
	before = len(fake.Requests())
	deployOnce(t, fake, cfg)
	var actions []string
	for _, r := range fake.Requests()[before:] {
		if r.Method != http.MethodGet {
			actions = append(actions, r.Action)
		}
	}
	want := []string{"DELETE zones/" + zone + "/instances/datalab", "POST zones/" + zone + "/instances"}
	if !slices.Equal(actions, want) {
		t.Errorf("mutations = %v, want %v", actions, want)
	}
	if mt := fake.Instance(zone, "datalab").MachineType; !strings.HasSuffix(mt, "/machineTypes/e2-standard-2") {
		t.Errorf("machine type after replace = %s", mt)
	}
}

func TestOperationErrorStopsTheDeployment(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	fake.FailOperation("datalab-web", "QUOTA_EXCEEDED", "Quota 'FIREWALLS' exceeded. Limit: 200.0 globally.")
	dep, err := newDeployer(t, fake, baseConfig()).Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = dep.Apply(context.Background(), quiet)
	if err == nil {
		t.Fatal("apply succeeded, want the operation's error")
	}
	for _, want := range []string{"create firewall datalab-web", "QUOTA_EXCEEDED", "Quota 'FIREWALLS' exceeded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if fake.Instance(zone, "datalab") != nil {
		t.Error("the VM was created after the firewall failed")
	}
}

func TestAPIErrorIsReturnedWithWhatWasCalled(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	fake.FailCall("GET zones/"+zone+"/instances/datalab", http.StatusForbidden, "Required 'compute.instances.get' permission for 'projects/lab-project/zones/europe-west1-b/instances/datalab'")
	_, err := newDeployer(t, fake, baseConfig()).Plan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "read instance datalab") || !strings.Contains(err.Error(), "compute.instances.get") {
		t.Errorf("Plan error = %v, want the read and the API's message", err)
	}

	fake.FailCall("POST global/firewalls", http.StatusForbidden, "Required 'compute.firewalls.create' permission")
	dep, err := newDeployer(t, fake, baseConfig()).Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = dep.Apply(context.Background(), quiet)
	if err == nil || !strings.Contains(err.Error(), "create firewall datalab-web") || !strings.Contains(err.Error(), "compute.firewalls.create") {
		t.Errorf("Apply error = %v, want the change and the API's message", err)
	}
}

func TestWaitPollsUntilDone(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	fake.PendingPolls = 3
	deployOnce(t, fake, baseConfig())
	polls := map[string]int{}
	for _, r := range fake.Requests() {
		if i := strings.Index(r.Path, "/operations/"); i >= 0 {
			polls[r.Path[i+len("/operations/"):]]++
		}
	}
	if len(polls) != 2 {
		t.Fatalf("operations polled: %v, want 2", polls)
	}
	for op, n := range polls {
		if n != 3 {
			t.Errorf("operation %s polled %d times, want 3 (RUNNING, RUNNING, DONE)", op, n)
		}
	}
}

func TestWaitGivesUpWithTheContext(t *testing.T) {
	fake := fakecloud.NewGCE(t)
	fake.PendingPolls = 1 << 30
	dep, err := newDeployer(t, fake, baseConfig()).Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = dep.Apply(ctx, quiet)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "operation-") {
		t.Errorf("Apply = %v, want the deadline with the operation's name", err)
	}
}

func TestOfflinePlanGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		edit   func(*gce.Config)
	}{
		{"plan-offline.golden", func(*gce.Config) {}},
		{"plan-offline-ssh-iap.golden", func(c *gce.Config) {
			c.SSHViaIAP = true
			c.Name = "lab"
			c.MachineType = "e2-medium"
			c.ServiceAccount = "datalab-vm@lab-project.iam.gserviceaccount.com"
			c.Stack.ComposeURL = "gs://lab-deploy/docker-compose.yml"
			c.Stack.ModelsURL = "gs://lab-deploy/models-v1.2.0.tar.gz"
			c.Stack.Env = map[string]string{"DATALAB_VERSION": "v1.2.0", "DATALAB_SITE": "lab.example.org"}
		}},
		{"plan-offline-no-db.golden", func(c *gce.Config) { c.Stack.DBSecret = "" }},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			cfg := baseConfig()
			tc.edit(&cfg)
			p, err := gce.Offline(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Offline || p.Count(deploy.Create) != len(p.Changes) {
				t.Errorf("offline plan should only create:\n%s", p.String())
			}
			golden.Check(t, tc.golden, p.String())
		})
	}
	script, err := gce.StartupScript(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "startup-script.golden.sh", script)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*gce.Config)
		want string
	}{
		{"no project", func(c *gce.Config) { c.Project = "" }, "--project"},
		{"no zone", func(c *gce.Config) { c.Zone = "" }, "--zone"},
		{"bad name", func(c *gce.Config) { c.Name = "Data_Lab" }, "lowercase"},
		{"raw Kafka password instead of a reference", func(c *gce.Config) { withKafka(c, "hunter2-Pa55word") }, "never the password itself"},
		{"Kafka secret without external brokers", func(c *gce.Config) {
			withKafka(c, "projects/lab-project/secrets/datalab-kafka")
			delete(c.Stack.Env, "DATALAB_BROKERS")
		}, "DATALAB_BROKERS"},
		{"Kafka secret with a passwordless mechanism", func(c *gce.Config) {
			withKafka(c, "projects/lab-project/secrets/datalab-kafka")
			c.Stack.Env["DATALAB_KAFKA_SASL_MECHANISM"] = "AWS_MSK_IAM"
		}, "takes a password"},
		{"SCRAM without a Kafka secret", func(c *gce.Config) { withKafka(c, "") }, "pass --kafka-secret"},
		{"Kafka password as a setting", func(c *gce.Config) {
			withKafka(c, "projects/lab-project/secrets/datalab-kafka")
			c.Stack.Env["DATALAB_KAFKA_SASL_PASSWORD"] = "hunter2"
		}, "looks secret"},
		{"Kafka password file as a setting", func(c *gce.Config) {
			withKafka(c, "projects/lab-project/secrets/datalab-kafka")
			c.Stack.Env["DATALAB_KAFKA_PASSWORD_FILE"] = "/tmp/pw"
		}, "set by the deployment"},
		{"DSN instead of a reference", func(c *gce.Config) { c.Stack.DBSecret = "postgres://lab:hunter2@10.0.0.5/lab" }, "never the DSN"},
		{"not a secret name", func(c *gce.Config) { c.Stack.DBSecret = "datalab-db" }, "projects/PROJECT/secrets/SECRET"},
		{"s3 compose URL on GCE", func(c *gce.Config) { c.Stack.ComposeURL = "s3://bucket/compose.yml" }, "gs://bucket/object"},
		{"plain http compose URL", func(c *gce.Config) { c.Stack.ComposeURL = "http://example.com/compose.yml" }, "https://"},
		{"s3 models on GCE", func(c *gce.Config) { c.Stack.ModelsURL = "s3://bucket/models.tar.gz" }, "models archive"},
		{"secret-looking setting", func(c *gce.Config) { c.Stack.Env = map[string]string{"DATALAB_API_TOKEN": "t0k3n"} }, "looks secret"},
		{"password setting", func(c *gce.Config) { c.Stack.Env = map[string]string{"POSTGRES_PASSWORD": "pw"} }, "set by the deployment"},
		{"DSN as a setting", func(c *gce.Config) { c.Stack.Env = map[string]string{"DATALAB_DB": "postgres://u:p@h/db"} }, "set by the deployment"},
		{"bad setting name", func(c *gce.Config) { c.Stack.Env = map[string]string{"datalab-site": "x"} }, "environment variable name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			tc.edit(&cfg)
			_, err := gce.Offline(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err = %v: it repeats the password", err)
			}
		})
	}
}

// withKafka points c at an external Kafka with SCRAM, its password in
// the secret ref.
func withKafka(c *gce.Config, ref string) {
	c.Stack.KafkaSecret = ref
	c.Stack.Env = fakecloud.KafkaEnv()
}
