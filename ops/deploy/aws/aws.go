// Package aws deploys the datalab compose stack to AWS the way seed A was
// hosted, without its open ports: an EC2 launch template (IMDSv2 required,
// an instance profile that can read the database secret, user-data that
// starts the stack) used by an auto-scaling group (1–3 instances) behind an
// application load balancer that health-checks /healthz. Security groups:
// the load balancer takes 80 (and 443 with a certificate) from the internet;
// the instances take the app port only from the load balancer's group; SSH
// only from an operator's CIDR, never from the internet; the database's
// group, if given, gets one rule from the instances' group.
//
// It reads the current resources through EC2, ELBv2 and Auto Scaling
// (aws-sdk-go-v2), plans the difference (ops/deploy.Plan) and applies
// it. `datalab deploy aws` is its shell.
package aws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/datalabhq/datalab/ops/deploy"
)

// Defaults of Config.
const (
	DefaultName            = "datalab"
	DefaultInstanceType    = "t3.small"
	DefaultAppPort         = 8080
	DefaultDBPort          = 5432
	MinSize                = 1
	MaxSize                = 3
	DesiredCapacity        = 1
	DefaultHealthCheckPath = "/healthz"
	// HopLimit is the IMDSv2 response hop limit: 2 lets the stack's
	// containers (one network hop away) use the instance role, e.g. for an
	// s3:// model; 1 would confine the role to the host.
	HopLimit = 2
	// SSLPolicy is the HTTPS listener's TLS policy (TLS 1.2 and 1.3 only).
	SSLPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
)

// Config is what `datalab deploy aws` deploys.
type Config struct {
	// Name names every resource: the load balancer, target group,
	// launch template and auto-scaling group; the security groups are
	// Name-alb and Name-app.
	Name      string
	Region    string
	VPCID     string
	SubnetIDs []string // at least two, in different availability zones (the ALB needs them)
	AMI       string
	// InstanceType is an EC2 instance type, DefaultInstanceType by default.
	InstanceType string
	// InstanceProfile is the name or ARN of an existing IAM instance
	// profile whose role may read the database secret and the Kafka secret
	// (secretsmanager:GetSecretValue on Stack.DBSecret and Stack.KafkaSecret)
	// and, for an s3:// compose URL, that object.
	InstanceProfile string
	// Stack is the compose stack; DBSecret is the ARN of the Secrets Manager
	// secret holding the DSN of the RDS PostgreSQL or MySQL database (required:
	// several instances must share one database). KafkaSecret, when set, is
	// the ARN of the secret holding an external Kafka's SASL password (its
	// brokers and mechanism are Stack.Env settings). HTTPPort is AppPort.
	Stack deploy.Stack
	// AppPort is the port the instances publish the web app on, the target
	// group's port. Only the load balancer's security group may reach it.
	AppPort int
	// HealthCheckPath is the target group's health check, answered 200 by a
	// healthy instance (DefaultHealthCheckPath).
	HealthCheckPath string
	// CertificateARN, when set, adds an HTTPS listener on 443 with this ACM
	// certificate and turns the HTTP listener into a redirect to it.
	CertificateARN string
	// SSHCIDR, when set, lets this network reach port 22 on the instances.
	// It must not be the internet.
	SSHCIDR string
	// DBSecurityGroupID, when set, is the RDS instance's security group: the
	// deployment adds one rule to it, DBPort from the instances' group.
	DBSecurityGroupID string
	DBPort            int
}

var (
	nameRE      = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]{0,26}[a-zA-Z0-9])?$`)
	secretARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):[0-9]{12}:secret:.+$`)
)

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.InstanceType == "" {
		c.InstanceType = DefaultInstanceType
	}
	if c.AppPort == 0 {
		c.AppPort = DefaultAppPort
	}
	if c.DBPort == 0 {
		c.DBPort = DefaultDBPort
	}
	if c.HealthCheckPath == "" {
		c.HealthCheckPath = DefaultHealthCheckPath
	}
	if !strings.HasPrefix(c.HealthCheckPath, "/") || strings.ContainsAny(c.HealthCheckPath, " \t\n") {
		return c, fmt.Errorf("--health-check-path %q: want an absolute path such as /healthz", c.HealthCheckPath)
	}
	c.Stack = c.Stack.WithDefaults()
	c.Stack.HTTPPort = c.AppPort
	var missing []string
	for flag, v := range map[string]string{"--region": c.Region, "--vpc": c.VPCID, "--ami": c.AMI, "--instance-profile": c.InstanceProfile, "--db-secret": c.Stack.DBSecret} {
		if v == "" {
			missing = append(missing, flag)
		}
	}
	switch {
	case len(missing) > 0:
		slices.Sort(missing)
		return c, fmt.Errorf("missing %s (see datalab deploy aws --help)", strings.Join(missing, ", "))
	case !nameRE.MatchString(c.Name):
		return c, fmt.Errorf("name %q: want at most 28 letters, digits and inner dashes (it names the load balancer and target group)", c.Name)
	case len(c.SubnetIDs) < 2:
		return c, fmt.Errorf("--subnets: an application load balancer needs at least two subnets in different availability zones, got %d", len(c.SubnetIDs))
	case c.AppPort < 1 || c.AppPort > 65535 || c.DBPort < 1 || c.DBPort > 65535:
		return c, fmt.Errorf("ports must be 1–65535 (app %d, db %d)", c.AppPort, c.DBPort)
	case c.AppPort == 22:
		return c, errors.New("--app-port 22 would make the app port the SSH port")
	}
	if strings.Contains(c.Stack.DBSecret, "://") || strings.Contains(c.Stack.DBSecret, "@") {
		return c, errors.New("--db-secret looks like a DSN: pass the ARN of a Secrets Manager secret holding it, never the DSN itself")
	}
	if !secretARNRE.MatchString(c.Stack.DBSecret) {
		return c, fmt.Errorf("--db-secret %q: want a Secrets Manager ARN, arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME", c.Stack.DBSecret)
	}
	if s := c.Stack.KafkaSecret; s != "" && !secretARNRE.MatchString(s) {
		// Not echoed: it may be the password itself.
		return c, errors.New("--kafka-secret is not a Secrets Manager ARN: pass arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME of a secret holding the SASL password, never the password itself")
	}
	if err := c.Stack.Check("s3"); err != nil {
		return c, err
	}
	if c.SSHCIDR != "" {
		if err := deploy.CheckAdminSource(c.SSHCIDR); err != nil {
			return c, err
		}
	}
	if c.CertificateARN != "" && !strings.HasPrefix(c.CertificateARN, "arn:") {
		return c, fmt.Errorf("--certificate-arn %q: want an ACM certificate ARN", c.CertificateARN)
	}
	return c, nil
}

func (c Config) albGroup() string { return c.Name + "-alb" }
func (c Config) appGroup() string { return c.Name + "-app" }

// UserData returns the instances' user-data script for cfg (what
// `datalab deploy aws --print-user-data` prints), before base64.
func UserData(cfg Config) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	return cfg.userData(), nil
}

// userData is the boot script of ops/deploy with the AWS steps. It
// expects Amazon Linux 2023 (dnf, the AWS CLI); docker is installed when
// the AMI lacks it.
func (c Config) userData() string {
	steps := deploy.BootSteps{
		Cloud: "AWS EC2 (Amazon Linux 2023)",
		Prepare: `command -v docker >/dev/null || dnf install -y docker
systemctl enable --now docker`,
	}
	steps.Fetch = func(rawURL, dest string) string {
		if u, err := url.Parse(rawURL); err == nil && u.Scheme == "s3" {
			return "aws s3 cp --only-show-errors --region " + deploy.ShellQuote(c.Region) + " " + deploy.ShellQuote(rawURL) + " " + dest
		}
		return deploy.FetchHTTPS(rawURL, dest)
	}
	steps.FetchSecret = func(arn string) string {
		// A secret is read in its own region, which its ARN names.
		region := secretARNRE.FindStringSubmatch(arn)[1]
		return "aws secretsmanager get-secret-value --region " + deploy.ShellQuote(region) +
			" --secret-id " + deploy.ShellQuote(arn) + " --query SecretString --output text"
	}
	return deploy.BootScript(c.Stack, steps)
}

// Clients are the three AWS APIs a deployment uses.
type Clients struct {
	EC2         *ec2.Client
	ELB         *elb.Client
	AutoScaling *autoscaling.Client
}

// NewClients makes the clients from an SDK configuration (credentials,
// region, and BaseEndpoint for a test or private endpoint).
func NewClients(cfg awssdk.Config) Clients {
	return Clients{EC2: ec2.NewFromConfig(cfg), ELB: elb.NewFromConfig(cfg), AutoScaling: autoscaling.NewFromConfig(cfg)}
}

// Deployer reads and changes one region's resources of a deployment.
type Deployer struct {
	cfg Config
	api Clients
	log *slog.Logger
}

// New checks cfg and returns a Deployer calling api.
func New(cfg Config, api Clients, log *slog.Logger) (*Deployer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Deployer{cfg: cfg, api: api, log: log}
	if err := deploy.CheckIngress(d.allRules(pendingIDs(cfg))); err != nil {
		return nil, err
	}
	return d, nil
}

// Offline plans cfg against an empty account without calling anything.
func Offline(cfg Config) (*deploy.Plan, error) {
	d, err := New(cfg, Clients{}, nil)
	if err != nil {
		return nil, err
	}
	dep := d.plan(&state{})
	dep.Plan.Offline = true
	return &dep.Plan, nil
}

// ids are the identifiers later resources refer to: read with the state,
// Pending placeholders in a plan, set for real by the step creating them.
type ids struct {
	albSG, appSG, targetGroup, loadBalancer string
	newLaunchTemplateVersion                bool
}

func pendingIDs(c Config) *ids {
	return &ids{
		albSG:        deploy.Pending("security-group", c.albGroup()),
		appSG:        deploy.Pending("security-group", c.appGroup()),
		targetGroup:  deploy.Pending("target-group", c.Name),
		loadBalancer: deploy.Pending("load-balancer", c.Name),
	}
}

// state is what exists; nil means absent.
type state struct {
	groups         map[string]*ec2types.SecurityGroup // by name
	dbGroup        *ec2types.SecurityGroup
	launchTemplate *ec2types.LaunchTemplate
	templateData   *ec2types.ResponseLaunchTemplateData
	targetGroup    *elbtypes.TargetGroup
	loadBalancer   *elbtypes.LoadBalancer
	listeners      []elbtypes.Listener
	group          *astypes.AutoScalingGroup
}

// Plan reads the deployment's resources and returns what makes them as
// configured. It makes no change.
func (d *Deployer) Plan(ctx context.Context) (*deploy.Deployment, error) {
	st, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	return d.plan(st), nil
}

func (d *Deployer) read(ctx context.Context) (*state, error) {
	c, api := d.cfg, d.api
	st := &state{groups: map[string]*ec2types.SecurityGroup{}}
	sgs, err := api.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("vpc-id"), Values: []string{c.VPCID}},
		{Name: awssdk.String("group-name"), Values: []string{c.albGroup(), c.appGroup()}},
	}})
	if err != nil {
		return nil, fmt.Errorf("read security groups: %w", err)
	}
	for i := range sgs.SecurityGroups {
		g := &sgs.SecurityGroups[i]
		st.groups[awssdk.ToString(g.GroupName)] = g
	}
	if c.DBSecurityGroupID != "" {
		out, err := api.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{c.DBSecurityGroupID}})
		if err != nil {
			return nil, fmt.Errorf("read the database's security group %s: %w", c.DBSecurityGroupID, err)
		}
		if len(out.SecurityGroups) == 0 {
			return nil, fmt.Errorf("the database's security group %s does not exist", c.DBSecurityGroupID)
		}
		st.dbGroup = &out.SecurityGroups[0]
	}

	lts, err := api.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{c.Name}})
	switch {
	case isCode(err, "InvalidLaunchTemplateName.NotFoundException"):
	case err != nil:
		return nil, fmt.Errorf("read launch template %s: %w", c.Name, err)
	case len(lts.LaunchTemplates) > 0:
		st.launchTemplate = &lts.LaunchTemplates[0]
		vs, err := api.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
			LaunchTemplateName: awssdk.String(c.Name), Versions: []string{"$Latest"},
		})
		if err != nil {
			return nil, fmt.Errorf("read launch template %s's latest version: %w", c.Name, err)
		}
		if len(vs.LaunchTemplateVersions) > 0 {
			st.templateData = vs.LaunchTemplateVersions[0].LaunchTemplateData
		}
	}

	tgs, err := api.ELB.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{c.Name}})
	switch {
	case isCode(err, "TargetGroupNotFound"):
	case err != nil:
		return nil, fmt.Errorf("read target group %s: %w", c.Name, err)
	case len(tgs.TargetGroups) > 0:
		st.targetGroup = &tgs.TargetGroups[0]
	}
	lbs, err := api.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{c.Name}})
	switch {
	case isCode(err, "LoadBalancerNotFound"):
	case err != nil:
		return nil, fmt.Errorf("read load balancer %s: %w", c.Name, err)
	case len(lbs.LoadBalancers) > 0:
		st.loadBalancer = &lbs.LoadBalancers[0]
		ls, err := api.ELB.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: st.loadBalancer.LoadBalancerArn})
		if err != nil {
			return nil, fmt.Errorf("read the listeners of load balancer %s: %w", c.Name, err)
		}
		st.listeners = ls.Listeners
	}

	asgs, err := api.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{c.Name}})
	if err != nil {
		return nil, fmt.Errorf("read auto-scaling group %s: %w", c.Name, err)
	}
	if len(asgs.AutoScalingGroups) > 0 {
		st.group = &asgs.AutoScalingGroups[0]
	}
	return st, nil
}

// isCode reports whether err is an AWS API error with this code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// plan computes the deployment: security groups, launch template, target
// group, load balancer and listeners, auto-scaling group — the order the
// references between them require.
func (d *Deployer) plan(st *state) *deploy.Deployment {
	c := d.cfg
	dep := &deploy.Deployment{Plan: deploy.Plan{
		Target: "aws",
		Scope:  []string{"region " + c.Region, "vpc " + c.VPCID, "name " + c.Name},
	}}
	id := pendingIDs(c)
	if g := st.groups[c.albGroup()]; g != nil {
		id.albSG = awssdk.ToString(g.GroupId)
	}
	if g := st.groups[c.appGroup()]; g != nil {
		id.appSG = awssdk.ToString(g.GroupId)
	}
	if st.targetGroup != nil {
		id.targetGroup = awssdk.ToString(st.targetGroup.TargetGroupArn)
	}
	if st.loadBalancer != nil {
		id.loadBalancer = awssdk.ToString(st.loadBalancer.LoadBalancerArn)
		dep.URL = "http://" + awssdk.ToString(st.loadBalancer.DNSName) + "/"
	}
	d.planGroup(dep, id, c.albGroup(), "datalab load balancer: HTTP(S) from the internet", st.groups[c.albGroup()], &id.albSG, d.albRules)
	d.planGroup(dep, id, c.appGroup(), "datalab instances: the app port from the load balancer only", st.groups[c.appGroup()], &id.appSG, d.appRules)
	if c.DBSecurityGroupID != "" {
		d.planDBRule(dep, id, st.dbGroup)
	}
	d.planLaunchTemplate(dep, id, st)
	d.planTargetGroup(dep, id, st.targetGroup)
	d.planLoadBalancer(dep, id, st.loadBalancer)
	d.planListeners(dep, id, st)
	d.planAutoScalingGroup(dep, id, st.group)
	return dep
}

func base64UserData(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// sortedJoin prints a set of IDs in a stable order.
func sortedJoin(xs []string) string { return strings.Join(slices.Sorted(slices.Values(xs)), ",") }
