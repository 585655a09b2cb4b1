package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/golden"
	"github.com/datalabhq/datalab/ops/deploy"
	"github.com/datalabhq/datalab/ops/deploy/internal/fakecloud"
)

// samplePlan has every action and field operation, fields added unsorted.
func samplePlan() deploy.Plan {
	p := deploy.Plan{Target: "example", Scope: []string{"region r", "name lab"}}
	create := deploy.Change{Action: deploy.Create, Kind: "security-group", Name: "lab-alb"}
	create.Set("vpc", "vpc-1")
	create.AddItem("ingress", "tcp:80 from 0.0.0.0/0")
	create.AddItem("ingress", "tcp:443 from 0.0.0.0/0")
	create.Set("description", "web")
	p.Add(create)
	update := deploy.Change{Action: deploy.Update, Kind: "security-group", Name: "lab-app"}
	update.RemoveItem("ingress", "tcp:22 from 0.0.0.0/0")
	if !update.Diff("tags", "a", "b") || update.Diff("unchanged", "x", "x") {
		panic("Diff reports wrongly whether the values differ")
	}
	p.Add(update)
	p.Add(deploy.Change{Action: deploy.Update, Kind: "instance", Name: "no-fields"}) // dropped
	replace := deploy.Change{Action: deploy.Replace, Kind: "instance", Name: "lab", Reason: "machine type cannot change in place"}
	replace.Diff("machineType", "e2-small", "e2-medium")
	p.Add(replace)
	p.Add(deploy.Change{Action: deploy.Delete, Kind: "firewall", Name: "lab-ssh", Reason: "SSH is closed"})
	return p
}

func TestPlanOutput(t *testing.T) {
	p := samplePlan()
	if got := len(p.Changes); got != 4 {
		t.Errorf("%d changes, want 4 (an update without fields is dropped)", got)
	}
	golden.Check(t, "plan.golden", p.String())
	p.Offline = true
	if s := p.String(); !strings.Contains(s, "state: not read (offline)") {
		t.Errorf("offline plan does not say so:\n%s", s)
	}
	empty := deploy.Plan{Target: "example", Scope: []string{"name lab"}}
	golden.Check(t, "plan-empty.golden", empty.String())
}

func TestApplyStopsAtTheFirstErrorAndRefusesOfflinePlans(t *testing.T) {
	var ran []string
	var dep deploy.Deployment
	step := func(name string, err error) func(context.Context) error {
		return func(context.Context) error { ran = append(ran, name); return err }
	}
	boom := errors.New("boom")
	dep.Add(deploy.Change{Action: deploy.Create, Kind: "k", Name: "a"}, step("a", nil))
	dep.Add(deploy.Change{Action: deploy.Update, Kind: "k", Name: "empty"}, step("empty", nil)) // no fields: dropped
	dep.Add(deploy.Change{Action: deploy.Create, Kind: "k", Name: "b"}, step("b", boom))
	dep.Add(deploy.Change{Action: deploy.Create, Kind: "k", Name: "c"}, step("c", nil))
	err := dep.Apply(context.Background(), fakecloud.Quiet)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "create k b") {
		t.Errorf("Apply = %v, want boom in create k b", err)
	}
	if strings.Join(ran, ",") != "a,b" {
		t.Errorf("ran %v, want a then b and nothing after the error", ran)
	}
	dep.Plan.Offline = true
	if err := dep.Apply(context.Background(), fakecloud.Quiet); !errors.Is(err, deploy.ErrOffline) {
		t.Errorf("Apply of an offline plan = %v, want ErrOffline", err)
	}
}

func TestScriptSettingsReadsTheHeader(t *testing.T) {
	s := deploy.Stack{ComposeURL: "https://example.org/c.yml", ComposeImage: "docker:27.5-cli", HTTPPort: 80,
		DBSecret: "projects/p/secrets/s/versions/latest", Env: map[string]string{"DATALAB_SITE": "lab.example.org"}}
	script := deploy.BootScript(s, deploy.BootSteps{Cloud: "test", Fetch: deploy.FetchHTTPS,
		FetchSecret: func(ref string) string { return "fetch-secret " + ref }})
	got := deploy.ScriptSettings(script)
	want := map[string]string{
		"compose file": "https://example.org/c.yml", "compose image": "docker:27.5-cli",
		"models": "/var/lib/datalab/models, put there by other means", "web port": "80 (DATALAB_HTTP_PORT)",
		"database":     "projects/p/secrets/s/versions/latest (resolved at boot; the value is never written to disk)",
		"kafka":        "the stack's own",
		"DATALAB_SITE": "lab.example.org",
	}
	if len(got) != len(want) {
		t.Errorf("settings %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
