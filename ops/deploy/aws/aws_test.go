package aws_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/datalabhq/datalab/internal/golden"
	"github.com/datalabhq/datalab/ops/deploy"
	"github.com/datalabhq/datalab/ops/deploy/aws"
	"github.com/datalabhq/datalab/ops/deploy/internal/fakecloud"
)

const (
	region    = "eu-west-1"
	vpc       = "vpc-0a1b2c3d"
	secretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:datalab/db-AbCdEf"
	certARN   = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c"
)

func baseConfig() aws.Config {
	return aws.Config{
		Region: region, VPCID: vpc, SubnetIDs: []string{"subnet-b", "subnet-a"},
		AMI: "ami-0123456789abcdef0", InstanceProfile: "datalab-app",
		Stack: deploy.Stack{DBSecret: secretARN},
	}
}

var quiet = fakecloud.Quiet

func clients(t *testing.T, fake *fakecloud.AWS) aws.Clients {
	return aws.NewClients(fake.SDKConfig(t, region))
}

func plan(t *testing.T, fake *fakecloud.AWS, cfg aws.Config) *deploy.Deployment {
	t.Helper()
	d, err := aws.New(cfg, clients(t, fake), quiet)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := d.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dep
}

func deployOnce(t *testing.T, fake *fakecloud.AWS, cfg aws.Config) *deploy.Deployment {
	t.Helper()
	d, err := aws.New(cfg, clients(t, fake), quiet)
	if err != nil {
		t.Fatal(err)
	}
	return fakecloud.Deploy(t, d)
}

// after returns the requests made since n requests.
func after(fake *fakecloud.AWS, n int) []fakecloud.Request { return fake.Requests()[n:] }

func actions(rs []fakecloud.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Action)
	}
	return out
}

// mutations are the actions that are not reads.
func mutations(rs []fakecloud.Request) []string {
	var out []string
	for _, a := range actions(rs) {
		if !strings.HasPrefix(a, "Describe") {
			out = append(out, a)
		}
	}
	return out
}

func find(t *testing.T, rs []fakecloud.Request, action string, nth int) url.Values {
	t.Helper()
	for _, r := range rs {
		if r.Action == action {
			if nth == 0 {
				return url.Values(r.Form)
			}
			nth--
		}
	}
	t.Fatalf("no request %s", action)
	return nil
}

// wantParams checks form parameters exactly.
func wantParams(t *testing.T, action string, f url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := f.Get(k); got != v {
			t.Errorf("%s %s = %q, want %q", action, k, got, v)
		}
	}
}

// assertNoChanges deploys cfg again and checks that the plan is empty and
// only reads were made; it returns the reads.
func assertNoChanges(t *testing.T, fake *fakecloud.AWS, cfg aws.Config) (reads []string, url string) {
	t.Helper()
	n := len(fake.Requests())
	dep := deployOnce(t, fake, cfg)
	if !dep.Plan.Empty() {
		t.Errorf("plan of an unchanged deployment:\n%s", dep.Plan.String())
	}
	if m := mutations(after(fake, n)); len(m) > 0 {
		t.Errorf("an unchanged deployment called %v", m)
	}
	return actions(after(fake, n)), dep.URL
}

func TestDeployCreatesEverythingInOrderThenIsIdempotent(t *testing.T) {
	fake := fakecloud.NewAWS(t)
	dep := deployOnce(t, fake, baseConfig())
	rs := fake.Requests()
	want := []string{
		"DescribeSecurityGroups", "DescribeLaunchTemplates", "DescribeTargetGroups", "DescribeLoadBalancers", "DescribeAutoScalingGroups",
		"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", // datalab-alb
		"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", // datalab-app
		"CreateLaunchTemplate", "CreateTargetGroup", "CreateLoadBalancer", "CreateListener", "CreateAutoScalingGroup",
	}
	if got := actions(rs); !slices.Equal(got, want) {
		t.Errorf("actions:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	wantParams(t, "DescribeSecurityGroups", find(t, rs, "DescribeSecurityGroups", 0), map[string]string{
		"Filter.1.Name": "vpc-id", "Filter.1.Value.1": vpc,
		"Filter.2.Name": "group-name", "Filter.2.Value.1": "datalab-alb", "Filter.2.Value.2": "datalab-app",
	})
	wantParams(t, "CreateSecurityGroup", find(t, rs, "CreateSecurityGroup", 0), map[string]string{"GroupName": "datalab-alb", "VpcId": vpc})
	alb := find(t, rs, "AuthorizeSecurityGroupIngress", 0)
	wantParams(t, "AuthorizeSecurityGroupIngress (alb)", alb, map[string]string{
		"IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "80", "IpPermissions.1.ToPort": "80",
		"IpPermissions.1.IpRanges.1.CidrIp": "0.0.0.0/0",
	})
	if alb.Has("IpPermissions.2.IpProtocol") {
		t.Errorf("ALB group got more than port 80 without a certificate: %v", alb)
	}
	app := find(t, rs, "AuthorizeSecurityGroupIngress", 1)
	wantParams(t, "AuthorizeSecurityGroupIngress (app)", app, map[string]string{
		"IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "8080", "IpPermissions.1.ToPort": "8080",
		"IpPermissions.1.Groups.1.GroupId": alb.Get("GroupId"),
	})
	for k := range app {
		if strings.Contains(k, "IpRanges") || strings.Contains(k, "Ipv6Ranges") {
			t.Errorf("the app group's rule has a CIDR (%s=%s): it must reference the ALB group only", k, app.Get(k))
		}
	}

	lt := find(t, rs, "CreateLaunchTemplate", 0)
	wantParams(t, "CreateLaunchTemplate", lt, map[string]string{
		"LaunchTemplateName":                                         "datalab",
		"LaunchTemplateData.ImageId":                                 "ami-0123456789abcdef0",
		"LaunchTemplateData.InstanceType":                            "t3.small",
		"LaunchTemplateData.IamInstanceProfile.Name":                 "datalab-app",
		"LaunchTemplateData.SecurityGroupId.1":                       app.Get("GroupId"),
		"LaunchTemplateData.MetadataOptions.HttpTokens":              "required",
		"LaunchTemplateData.MetadataOptions.HttpEndpoint":            "enabled",
		"LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit": "2",
	})
	ud, err := base64.StdEncoding.DecodeString(lt.Get("LaunchTemplateData.UserData"))
	if err != nil {
		t.Fatalf("user-data is not base64: %v", err)
	}
	wantUD, err := aws.UserData(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	if string(ud) != wantUD {
		t.Errorf("user-data differs from aws.UserData:\n%s", ud)
	}
	for _, s := range []string{"aws secretsmanager get-secret-value --region 'eu-west-1' --secret-id '" + secretARN + "'", "export DATALAB_HTTP_PORT=8080"} {
		if !strings.Contains(string(ud), s) {
			t.Errorf("user-data lacks %q", s)
		}
	}

	wantParams(t, "CreateTargetGroup", find(t, rs, "CreateTargetGroup", 0), map[string]string{
		"Name": "datalab", "Protocol": "HTTP", "Port": "8080", "VpcId": vpc, "TargetType": "instance",
		"HealthCheckPath": "/healthz", "HealthCheckProtocol": "HTTP", "Matcher.HttpCode": "200",
		"HealthCheckIntervalSeconds": "15", "HealthyThresholdCount": "2", "UnhealthyThresholdCount": "3",
	})
	lb := find(t, rs, "CreateLoadBalancer", 0)
	wantParams(t, "CreateLoadBalancer", lb, map[string]string{
		"Name": "datalab", "Type": "application", "Scheme": "internet-facing",
		"SecurityGroups.member.1": alb.Get("GroupId"), "Subnets.member.1": "subnet-b", "Subnets.member.2": "subnet-a",
	})
	wantParams(t, "CreateListener", find(t, rs, "CreateListener", 0), map[string]string{
		"Port": "80", "Protocol": "HTTP", "DefaultActions.member.1.Type": "forward",
		"DefaultActions.member.1.TargetGroupArn": fake.TargetGroupARN("datalab"),
	})
	asg := find(t, rs, "CreateAutoScalingGroup", 0)
	wantParams(t, "CreateAutoScalingGroup", asg, map[string]string{
		"AutoScalingGroupName": "datalab", "MinSize": "1", "MaxSize": "3", "DesiredCapacity": "1",
		"LaunchTemplate.LaunchTemplateName": "datalab", "LaunchTemplate.Version": "$Latest",
		"HealthCheckType": "ELB", "HealthCheckGracePeriod": "300", "VPCZoneIdentifier": "subnet-b,subnet-a",
		"TargetGroupARNs.member.1": fake.TargetGroupARN("datalab"),
	})
	if dep.URL != "http://datalab-1234567890.eu-west-1.elb.amazonaws.com/" {
		t.Errorf("URL = %q, want the load balancer's DNS name", dep.URL)
	}

	// Again: reads only, and an empty plan.
	n := len(fake.Requests())
	reads, url2 := assertNoChanges(t, fake, baseConfig())
	wantReads := []string{"DescribeSecurityGroups", "DescribeLaunchTemplates", "DescribeLaunchTemplateVersions", "DescribeTargetGroups", "DescribeLoadBalancers", "DescribeListeners", "DescribeAutoScalingGroups"}
	if !slices.Equal(reads, wantReads) {
		t.Errorf("second deployment read %v, want %v", reads, wantReads)
	}
	wantParams(t, "DescribeLaunchTemplateVersions", find(t, after(fake, n), "DescribeLaunchTemplateVersions", 0),
		map[string]string{"LaunchTemplateName": "datalab", "LaunchTemplateVersion.1": "$Latest"})
	if url2 != dep.URL {
		t.Errorf("second deployment URL = %q", url2)
	}
}

func TestHTTPSListenerWithCertificate(t *testing.T) {
	fake := fakecloud.NewAWS(t)
	cfg := baseConfig()
	cfg.CertificateARN = certARN
	deployOnce(t, fake, cfg)
	rs := fake.Requests()
	alb := find(t, rs, "AuthorizeSecurityGroupIngress", 0)
	wantParams(t, "AuthorizeSecurityGroupIngress (alb)", alb, map[string]string{
		"IpPermissions.1.FromPort": "443", "IpPermissions.1.IpRanges.1.CidrIp": "0.0.0.0/0",
		"IpPermissions.2.FromPort": "80", "IpPermissions.2.IpRanges.1.CidrIp": "0.0.0.0/0",
	})
	wantParams(t, "CreateListener 80", find(t, rs, "CreateListener", 0), map[string]string{
		"Port": "80", "Protocol": "HTTP", "DefaultActions.member.1.Type": "redirect",
		"DefaultActions.member.1.RedirectConfig.Protocol": "HTTPS", "DefaultActions.member.1.RedirectConfig.Port": "443",
		"DefaultActions.member.1.RedirectConfig.StatusCode": "HTTP_301",
	})
	wantParams(t, "CreateListener 443", find(t, rs, "CreateListener", 1), map[string]string{
		"Port": "443", "Protocol": "HTTPS", "Certificates.member.1.CertificateArn": certARN, "SslPolicy": aws.SSLPolicy,
		"DefaultActions.member.1.Type": "forward", "DefaultActions.member.1.TargetGroupArn": fake.TargetGroupARN("datalab"),
	})
	assertNoChanges(t, fake, cfg)
}

func TestUpdateBringsDriftBackAndRollsNewTemplate(t *testing.T) {
	fake := fakecloud.NewAWS(t)
	deployOnce(t, fake, baseConfig())
	// By hand: SSH and 8080 opened to the world on the instances (the
	// seed's rules), the group resized.
	fake.AddPermission("datalab-app", ec2types.IpPermission{
		IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(22), ToPort: awssdk.Int32(22),
		IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}},
	})
	fake.AddPermission("datalab-app", ec2types.IpPermission{
		IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(8080), ToPort: awssdk.Int32(8080),
		Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: awssdk.String("::/0")}},
	})
	fake.SetASGSize("datalab", 0, 10)

	// And the deployment changes: a new AMI and HTTPS.
	cfg := baseConfig()
	cfg.AMI = "ami-0fedcba9876543210"
	cfg.CertificateARN = certARN
	dep := plan(t, fake, cfg)
	golden.Check(t, "plan-update.golden", dep.Plan.String())
	n := len(fake.Requests())
	if err := dep.Apply(context.Background(), quiet); err != nil {
		t.Fatal(err)
	}
	rs := after(fake, n)
	want := []string{
		"AuthorizeSecurityGroupIngress",    // alb: 443
		"RevokeSecurityGroupIngress",       // app: 22 and 8080 from the world
		"CreateLaunchTemplateVersion",      // new AMI
		"ModifyListener", "CreateListener", // 80 → redirect, 443
		"UpdateAutoScalingGroup", "StartInstanceRefresh", // sizes back, roll the new version
	}
	if got := mutations(rs); !slices.Equal(got, want) {
		t.Errorf("mutations %v, want %v", got, want)
	}
	revoke := find(t, rs, "RevokeSecurityGroupIngress", 0)
	var revoked []string
	for _, r := range aws.PermissionRules("", fakecloud.ParsePermissions(revoke, "IpPermissions")) {
		revoked = append(revoked, r.String())
	}
	if w := []string{"tcp:22 from 0.0.0.0/0", "tcp:8080 from ::/0"}; !slices.Equal(revoked, w) {
		t.Errorf("revoked %v, want %v", revoked, w)
	}
	wantParams(t, "UpdateAutoScalingGroup", find(t, rs, "UpdateAutoScalingGroup", 0), map[string]string{"MinSize": "1", "MaxSize": "3"})
	if find(t, rs, "UpdateAutoScalingGroup", 0).Has("DesiredCapacity") {
		t.Error("an update must leave the desired capacity to the scaling policies")
	}
	wantParams(t, "StartInstanceRefresh", find(t, rs, "StartInstanceRefresh", 0), map[string]string{
		"AutoScalingGroupName": "datalab", "Preferences.MinHealthyPercentage": "100", "Preferences.MaxHealthyPercentage": "200",
	})
	if got := fake.TemplateData("datalab").Get("ImageId"); got != "ami-0fedcba9876543210" {
		t.Errorf("latest template version has ImageId %q", got)
	}
	if got := fake.SecurityGroup("datalab-app"); len(got) != 1 {
		t.Errorf("app group rules after the update: %v, want only the one from the ALB group", aws.PermissionRules("", got))
	}
	assertNoChanges(t, fake, cfg)
	if fake.Refreshes() != 1 {
		t.Errorf("%d instance refreshes, want 1", fake.Refreshes())
	}
}

func TestSSHOnlyFromAnOperatorNetwork(t *testing.T) {
	fake := fakecloud.NewAWS(t)
	cfg := baseConfig()
	cfg.SSHCIDR = "203.0.113.0/24"
	deployOnce(t, fake, cfg)
	app := find(t, fake.Requests(), "AuthorizeSecurityGroupIngress", 1)
	wantParams(t, "AuthorizeSecurityGroupIngress (app)", app, map[string]string{
		"IpPermissions.1.FromPort": "22", "IpPermissions.1.IpRanges.1.CidrIp": "203.0.113.0/24",
		"IpPermissions.2.FromPort": "8080",
	})

	for _, world := range []string{"0.0.0.0/0", "::/0", "10.0.0.0/0"} {
		fake := fakecloud.NewAWS(t)
		cfg.SSHCIDR = world
		_, err := aws.New(cfg, clients(t, fake), quiet)
		if err == nil || !strings.Contains(err.Error(), "whole internet") {
			t.Errorf("SSH from %s: err = %v, want it refused", world, err)
		}
		if _, err := aws.Offline(cfg); err == nil {
			t.Errorf("offline plan with SSH from %s accepted", world)
		}
		if len(fake.Requests()) > 0 {
			t.Errorf("SSH from %s: calls were made: %v", world, fake.Actions())
		}
	}
}

func TestDatabaseGroupGetsOneRuleFromTheInstances(t *testing.T) {
	fake := fakecloud.NewAWS(t)
	// The RDS group exists, with its owner's rule from a bastion network.
	dbSG := fake.AddSecurityGroup("rds-datalab", vpc, ec2types.IpPermission{
		IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(5432), ToPort: awssdk.Int32(5432),
		IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("10.20.0.0/16")}},
	})
	cfg := baseConfig()
	cfg.DBSecurityGroupID = dbSG
	deployOnce(t, fake, cfg)
	var dbReq, appReq url.Values
	for _, r := range fake.Requests() {
		if r.Action == "AuthorizeSecurityGroupIngress" {
			switch f := url.Values(r.Form); {
			case f.Get("GroupId") == dbSG:
				dbReq = f
			case f.Get("IpPermissions.1.FromPort") == "8080":
				appReq = f
			}
		}
	}
	if dbReq == nil || appReq == nil {
		t.Fatalf("requests: %v", fake.Actions())
	}
	wantParams(t, "AuthorizeSecurityGroupIngress (db)", dbReq, map[string]string{
		"IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "5432", "IpPermissions.1.ToPort": "5432",
		"IpPermissions.1.Groups.1.GroupId": appReq.Get("GroupId"),
	})
	if got := fake.SecurityGroup("rds-datalab"); len(got) != 2 {
		t.Errorf("database group rules: %v, want the owner's and the instances'", aws.PermissionRules("", got))
	}
	assertNoChanges(t, fake, cfg)
}

func TestAPIErrorsAreReturnedWithTheActionAndMessage(t *testing.T) {
	fake := fakecloud.NewAWS(t)
	fake.Fail("DescribeSecurityGroups", "UnauthorizedOperation", "You are not authorized to perform this operation.")
	d, err := aws.New(baseConfig(), clients(t, fake), quiet)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Plan(context.Background())
	for _, want := range []string{"read security groups", "DescribeSecurityGroups", "UnauthorizedOperation", "You are not authorized"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Plan error %v lacks %q", err, want)
		}
	}

	fake.Fail("CreateTargetGroup", "AccessDenied", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: elasticloadbalancing:CreateTargetGroup")
	dep, err := d.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = dep.Apply(context.Background(), quiet)
	for _, want := range []string{"create target-group datalab", "CreateTargetGroup", "AccessDenied", "elasticloadbalancing:CreateTargetGroup"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Apply error %v lacks %q", err, want)
		}
	}
	if slices.Contains(fake.Actions(), "CreateLoadBalancer") {
		t.Error("the deployment went on after the error")
	}
	// The next run creates only what is missing.
	n := len(fake.Requests())
	deployOnce(t, fake, baseConfig())
	want := []string{"CreateTargetGroup", "CreateLoadBalancer", "CreateListener", "CreateAutoScalingGroup"}
	if got := mutations(after(fake, n)); !slices.Equal(got, want) {
		t.Errorf("resumed deployment called %v, want %v", got, want)
	}
}

func TestOfflinePlanGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		edit   func(*aws.Config)
	}{
		{"plan-offline.golden", func(*aws.Config) {}},
		{"plan-offline-https-ssh-db.golden", func(c *aws.Config) {
			c.Name = "lab"
			c.CertificateARN = certARN
			c.SSHCIDR = "203.0.113.7/32"
			c.DBSecurityGroupID = "sg-0db0db0db0db0db0d"
			c.DBPort = 3306
			c.InstanceType = "t3.medium"
			c.InstanceProfile = "arn:aws:iam::123456789012:instance-profile/datalab-app"
			c.Stack.ComposeURL = "s3://lab-deploy/docker-compose.yml"
			c.Stack.ModelsURL = "s3://lab-deploy/models-v1.2.0.tar.gz"
			c.Stack.Env = map[string]string{"DATALAB_VERSION": "v1.2.0"}
			c.HealthCheckPath = "/"
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			cfg := baseConfig()
			tc.edit(&cfg)
			p, err := aws.Offline(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Offline {
				t.Error("plan not marked offline")
			}
			golden.Check(t, tc.golden, p.String())
		})
	}
	ud, err := aws.UserData(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "user-data.golden.sh", ud)
}

func TestOfflineDatabaseRuleNeedsTheGroup(t *testing.T) {
	// Offline, the database's group is not read; its rule is planned as an
	// addition to the named group.
	cfg := baseConfig()
	cfg.DBSecurityGroupID = "sg-0db"
	p, err := aws.Offline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.String(), "tcp:5432 from sg:(new security-group datalab-app)") {
		t.Errorf("plan lacks the database rule:\n%s", p.String())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*aws.Config)
		want string
	}{
		{"nothing", func(c *aws.Config) { *c = aws.Config{SubnetIDs: c.SubnetIDs} }, "missing --ami, --db-secret, --instance-profile, --region, --vpc"},
		{"one subnet", func(c *aws.Config) { c.SubnetIDs = c.SubnetIDs[:1] }, "at least two subnets"},
		{"raw Kafka password instead of a reference", func(c *aws.Config) { withKafka(c, "hunter2-Pa55word") }, "never the password itself"},
		{"Kafka secret without external brokers", func(c *aws.Config) { withKafka(c, kafkaARN); delete(c.Stack.Env, "DATALAB_BROKERS") }, "DATALAB_BROKERS"},
		{"Kafka secret with a passwordless mechanism", func(c *aws.Config) {
			withKafka(c, kafkaARN)
			c.Stack.Env["DATALAB_KAFKA_SASL_MECHANISM"] = "AWS_MSK_IAM"
		}, "takes a password"},
		{"SCRAM without a Kafka secret", func(c *aws.Config) { withKafka(c, "") }, "pass --kafka-secret"},
		{"Kafka password as a setting", func(c *aws.Config) { withKafka(c, kafkaARN); c.Stack.Env["DATALAB_KAFKA_SASL_PASSWORD"] = "hunter2" }, "looks secret"},
		{"Kafka password file as a setting", func(c *aws.Config) { withKafka(c, kafkaARN); c.Stack.Env["DATALAB_KAFKA_PASSWORD_FILE"] = "/tmp/pw" }, "set by the deployment"},
		{"DSN instead of a reference", func(c *aws.Config) { c.Stack.DBSecret = "mysql://lab:pw@tcp(db:3306)/lab" }, "never the DSN"},
		{"not an ARN", func(c *aws.Config) { c.Stack.DBSecret = "datalab/db" }, "Secrets Manager ARN"},
		{"gs compose URL on AWS", func(c *aws.Config) { c.Stack.ComposeURL = "gs://b/compose.yml" }, "s3://bucket/object"},
		{"bad name", func(c *aws.Config) { c.Name = "a_name_with_underscores" }, "inner dashes"},
		{"SSH CIDR with host bits", func(c *aws.Config) { c.SSHCIDR = "203.0.113.7/24" }, "203.0.113.0/24"},
		{"SSH not a CIDR", func(c *aws.Config) { c.SSHCIDR = "my-laptop" }, "not a CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			tc.edit(&cfg)
			_, err := aws.Offline(cfg)
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
func withKafka(c *aws.Config, ref string) {
	c.Stack.KafkaSecret = ref
	c.Stack.Env = fakecloud.KafkaEnv()
}
