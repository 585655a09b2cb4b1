package deploy_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/ops/deploy"
	"github.com/datalabhq/datalab/ops/deploy/aws"
	"github.com/datalabhq/datalab/ops/deploy/gce"
	"github.com/datalabhq/datalab/ops/deploy/internal/fakecloud"
)

func TestCheckIngress(t *testing.T) {
	world := func(proto string, from, to int, src string) deploy.Rule {
		return deploy.Rule{Resource: "fw", Protocol: proto, FromPort: from, ToPort: to, Source: src}
	}
	for _, tc := range []struct {
		rule deploy.Rule
		bad  bool
	}{
		{world("tcp", 80, 80, "0.0.0.0/0"), false},
		{world("tcp", 443, 443, "::/0"), false},
		{world("tcp", 22, 22, "203.0.113.0/24"), false},
		{world("tcp", 5432, 5432, "sg:sg-0app"), false},
		{world("tcp", 22, 22, "tag:bastion"), false},
		{world("udp", 22, 22, "0.0.0.0/0"), false},
		{world("icmp", 0, 0, "0.0.0.0/0"), false},
		{world("tcp", 22, 22, "0.0.0.0/0"), true},
		{world("tcp", 22, 22, "::/0"), true},
		{world("tcp", 8080, 8080, "0.0.0.0/0"), true},
		{world("tcp", 5432, 5432, "0.0.0.0/0"), true},
		{world("tcp", 3306, 3306, "::/0"), true},
		{world("tcp", 9092, 9092, "0.0.0.0/0"), true},
		{world("tcp", 9000, 9100, "0.0.0.0/0"), true}, // a range covering Kafka
		{world("tcp", 1, 65535, "0.0.0.0/0"), true},
		{world("tcp", 0, 0, "0.0.0.0/0"), true},    // every port
		{world("all", 0, 0, "0.0.0.0/0"), true},    // every protocol
		{world("-1", 0, 0, "::/0"), true},          // AWS's "all"
		{world("6", 22, 22, "0.0.0.0/0"), true},    // TCP by number
		{world("tcp", 22, 22, "10.0.0.0/0"), true}, // any /0 is the internet
	} {
		err := deploy.CheckIngress([]deploy.Rule{tc.rule})
		if (err != nil) != tc.bad {
			t.Errorf("%s: err = %v, want bad=%v", tc.rule, err, tc.bad)
		}
		if err != nil && !errors.Is(err, deploy.ErrOpenToWorld) {
			t.Errorf("%s: error does not wrap ErrOpenToWorld: %v", tc.rule, err)
		}
	}
}

// sentRules deploys each configuration against a fresh fake of its cloud,
// then once more after drift, and returns every ingress rule the fakes
// received in firewall inserts/updates and security-group authorizations.
type sentRules struct {
	rules []deploy.Rule
	// worldRules counts rules from the internet (the web ports), proving
	// the walk saw the rules that matter and not an empty list.
	worldRules int
}

func (s *sentRules) add(rs []deploy.Rule) {
	for _, r := range rs {
		if deploy.IsWorld(r.Source) {
			s.worldRules++
		}
	}
	s.rules = append(s.rules, rs...)
}

func gceRules(t *testing.T, fake *fakecloud.GCE) []deploy.Rule {
	t.Helper()
	fws, err := fake.FirewallRequests()
	if err != nil {
		t.Fatal(err)
	}
	var rules []deploy.Rule
	for _, fw := range fws {
		rs, err := gce.FirewallRules(fw)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rs...)
	}
	return rules
}

func awsRules(fake *fakecloud.AWS) []deploy.Rule {
	var rules []deploy.Rule
	for _, req := range fake.IngressRequests() {
		if req.Action == "AuthorizeSecurityGroupIngress" { // revocations close, they never open
			rules = append(rules, aws.PermissionRules("security-group "+req.GroupID, req.Permissions)...)
		}
	}
	return rules
}

func gceDeploy(t *testing.T, fake *fakecloud.GCE, cfg gce.Config) {
	t.Helper()
	cfg.Project, cfg.Zone, cfg.PollInterval = "p", "europe-west1-b", time.Millisecond
	d, err := gce.New(context.Background(), cfg, fakecloud.Quiet, fake.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	fakecloud.Deploy(t, d)
}

func awsDeploy(t *testing.T, fake *fakecloud.AWS, cfg aws.Config) {
	t.Helper()
	cfg.Region, cfg.VPCID, cfg.SubnetIDs = "eu-west-1", "vpc-1", []string{"subnet-a", "subnet-b"}
	cfg.AMI, cfg.InstanceProfile = "ami-1", "datalab-app"
	cfg.Stack.DBSecret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:datalab/db-AbCdEf"
	d, err := aws.New(cfg, aws.NewClients(fake.SDKConfig(t, cfg.Region)), fakecloud.Quiet)
	if err != nil {
		t.Fatal(err)
	}
	fakecloud.Deploy(t, d)
}

// TestNoGeneratedRuleOpensProtectedPortsToTheInternet is the security
// acceptance test of issue 8: across both targets and every optional flag,
// no firewall or security-group request opens SSH, 8080, PostgreSQL, MySQL
// or Kafka to 0.0.0.0/0 or ::/0 — the seed opened 22, 8080 and 5000.
func TestNoGeneratedRuleOpensProtectedPortsToTheInternet(t *testing.T) {
	var sent sentRules
	for name, cfg := range map[string]gce.Config{
		"default":          {},
		"ssh via IAP":      {SSHViaIAP: true},
		"gs compose, name": {Name: "lab", Stack: deploy.Stack{ComposeURL: "gs://b/compose.yml", DBSecret: "projects/p/secrets/db"}},
	} {
		t.Run("gce/"+name, func(t *testing.T) {
			fake := fakecloud.NewGCE(t)
			gceDeploy(t, fake, cfg)
			// Toggle SSH and deploy again: updates and deletions too.
			cfg.SSHViaIAP = !cfg.SSHViaIAP
			gceDeploy(t, fake, cfg)
			sent.add(gceRules(t, fake))
		})
	}
	aws1 := func(edit func(*aws.Config)) aws.Config {
		var c aws.Config
		edit(&c)
		return c
	}
	for name, cfg := range map[string]aws.Config{
		"default":     {},
		"https":       aws1(func(c *aws.Config) { c.CertificateARN = "arn:aws:acm:eu-west-1:123456789012:certificate/x" }),
		"ssh":         aws1(func(c *aws.Config) { c.SSHCIDR = "198.51.100.0/24" }),
		"ssh ipv6":    aws1(func(c *aws.Config) { c.SSHCIDR = "2001:db8::/48" }),
		"app port 80": aws1(func(c *aws.Config) { c.AppPort = 80 }),
	} {
		t.Run("aws/"+name, func(t *testing.T) {
			fake := fakecloud.NewAWS(t)
			awsDeploy(t, fake, cfg)
			// With a database group (MySQL this time), HTTPS and SSH added.
			cfg.DBSecurityGroupID, cfg.DBPort = fake.AddSecurityGroup("rds", "vpc-1"), 3306
			cfg.CertificateARN = "arn:aws:acm:eu-west-1:123456789012:certificate/y"
			cfg.SSHCIDR = "192.0.2.0/24"
			awsDeploy(t, fake, cfg)
			sent.add(awsRules(fake))
		})
	}
	if sent.worldRules < 8 {
		t.Fatalf("only %d rules from the internet were seen in %d rules: the walk missed requests", sent.worldRules, len(sent.rules))
	}
	if err := deploy.CheckIngress(sent.rules); err != nil {
		t.Error(err)
	}
	t.Logf("%d ingress rules checked, %d of them from the internet", len(sent.rules), sent.worldRules)
}

// TestIngressWalkCatchesBadRules feeds requests with the seed's kind of rule
// through the same decoding the acceptance test uses, and expects the check
// to name each one.
func TestIngressWalkCatchesBadRules(t *testing.T) {
	gceFake := fakecloud.NewGCE(t)
	bad := `{"name":"seed-like","network":"global/networks/default","direction":"INGRESS",` +
		`"allowed":[{"IPProtocol":"tcp","ports":["22","8080","5000"]}],"sourceRanges":["0.0.0.0/0"]}`
	resp, err := http.Post(gceFake.Endpoint()+"projects/p/global/firewalls", "application/json", strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	awsFake := fakecloud.NewAWS(t)
	sg := awsFake.AddSecurityGroup("seed-instances", "vpc-1")
	form := url.Values{
		"Action": {"AuthorizeSecurityGroupIngress"}, "Version": {"2016-11-15"}, "GroupId": {sg},
		"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"5432"}, "IpPermissions.1.ToPort": {"5432"},
		"IpPermissions.1.IpRanges.1.CidrIp": {"0.0.0.0/0"},
		"IpPermissions.2.IpProtocol":        {"-1"}, "IpPermissions.2.Ipv6Ranges.1.CidrIpv6": {"::/0"},
		"IpPermissions.3.IpProtocol": {"tcp"}, "IpPermissions.3.FromPort": {"9000"}, "IpPermissions.3.ToPort": {"9100"},
		"IpPermissions.3.IpRanges.1.CidrIp": {"10.0.0.0/8"}, "IpPermissions.3.IpRanges.2.CidrIp": {"0.0.0.0/0"},
	}
	resp, err = http.PostForm(awsFake.URL(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var sent sentRules
	sent.add(gceRules(t, gceFake))
	sent.add(awsRules(awsFake))
	err = deploy.CheckIngress(sent.rules)
	if err == nil {
		t.Fatalf("the check passed %d bad rules", len(sent.rules))
	}
	for _, want := range []string{
		"firewall seed-like: tcp:22 from 0.0.0.0/0 reaches 22 (SSH)",
		"firewall seed-like: tcp:8080 from 0.0.0.0/0 reaches 8080",
		"tcp:5432 from 0.0.0.0/0 reaches 5432 (PostgreSQL)",
		"all:all from ::/0 reaches 22",
		"all:all from ::/0 reaches 3306 (MySQL)",
		"tcp:9000-9100 from 0.0.0.0/0 reaches 9092 (Kafka)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the check's error does not name %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "10.0.0.0/8") || strings.Contains(err.Error(), "5000") {
		t.Errorf("the check named a rule it should not: %v", err)
	}
}
