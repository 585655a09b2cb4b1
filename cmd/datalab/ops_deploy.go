package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"google.golang.org/api/option"

	"github.com/datalabhq/datalab/ops/deploy"
	"github.com/datalabhq/datalab/ops/deploy/aws"
	"github.com/datalabhq/datalab/ops/deploy/gce"
)

// deployOptions are the flags every target shares.
type deployOptions struct {
	plan, offline, exitCode, printScript bool
	endpoint                             string
	stack                                deploy.Stack
}

var (
	deployOpts deployOptions
	gceCfg     gce.Config
	awsCfg     aws.Config
)

var deployCmd = &cobra.Command{
	Use:   "deploy gce|aws",
	Short: "Create or update the app stack on Google Compute Engine or AWS (--plan shows the changes only)",
	Long: `deploy makes a cloud deployment of the compose stack (deploy/compose/docker-compose.yml)
match its flags. It reads what exists first and then creates what is missing and
updates what differs, so running it twice changes nothing the second time. The
plan — what it will create (+), update (~), replace (-/+) or delete (-) — is
printed before anything changes; --plan stops there.

  datalab deploy gce   one Container-Optimized OS VM running the stack, firewall 80/443
  datalab deploy aws   launch template + auto-scaling group (1–3) behind an ALB

Every VM runs the same boot script (GCE startup script, AWS user-data): it
fetches --compose-url and, with --models-url, the models archive; reads
--db-secret (and --kafka-secret); makes a local PostgreSQL password once; and
runs docker compose up with DATALAB_HTTP_PORT, DATALAB_DB, DATALAB_MODELS_DIR,
POSTGRES_PASSWORD, DATALAB_KAFKA_PASSWORD_FILE and the --stack-env settings.

What is opened to the internet is the web only: 80 and 443. SSH, 8080 (the
app port), PostgreSQL, MySQL and Kafka are never opened to 0.0.0.0/0 or ::/0;
a deployment whose rules would do so is refused before any call.

The database DSN is never passed: --db-secret names a secret (GCP Secret
Manager, AWS Secrets Manager) that the VM reads at boot with its own identity
and hands to the stack as DATALAB_DB.

An external Kafka (AWS MSK, Confluent Cloud) is named by --stack-env
settings: DATALAB_BROKERS (then the stack's own Kafka is not started),
DATALAB_KAFKA_TLS=true, DATALAB_KAFKA_SASL_MECHANISM and
DATALAB_KAFKA_SASL_USERNAME (docs/kafka-security.md). Its SASL password is
never passed either: --kafka-secret names the secret holding it, which the VM
reads at boot into a file only the apps' user may read. The stack publishes its web app on
DATALAB_HTTP_PORT (80 on GCE, --app-port on AWS).

Credentials come from the environment: Application Default Credentials on GCE
(GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login), the
SDK chain on AWS (AWS_ACCESS_KEY_ID/…, AWS_PROFILE, SSO, instance role).
--plan without credentials, or with --offline, plans against an empty cloud.
See docs/deploy-cloud.md.`,
}

var deployGCECmd = &cobra.Command{
	Use:   "gce",
	Short: "Deploy the stack to one Compute Engine VM (Container-Optimized OS) with a firewall for 80/443",
	Long: `deploy gce creates or updates, in --project and --zone:

  firewall <name>-web       tcp:80,443 from 0.0.0.0/0 to VMs tagged <name>
  firewall <name>-ssh-iap   tcp:22 from 35.235.240.0/20 (IAP TCP forwarding) — only with
                            --ssh-via-iap; deleted otherwise
  instance <name>           Container-Optimized OS, shielded VM, ephemeral external IP,
                            --service-account with the cloud-platform scope, OS Login,
                            project SSH keys blocked, and a startup script that fetches
                            --compose-url, reads --db-secret from Secret Manager and runs
                            docker compose up (print it with --print-startup-script)

Every change waits for its Compute Engine operation to be DONE and reports the
operation's errors. Metadata and network tags are updated in place (the new
startup script runs at the next boot: reset the VM or run
sudo google_metadata_script_runner startup on it). A different machine type or
service account needs a new VM: the plan says so and only --recreate does it.

The service account needs roles/secretmanager.secretAccessor on the secret
and on --kafka-secret (and storage.objects.get on gs:// compose and models URLs).`,
	Example: `  datalab deploy gce --project my-lab --zone europe-west1-b --db-secret projects/my-lab/secrets/datalab-db --plan
  datalab deploy gce … --stack-env DATALAB_BROKERS=pkc-abc.europe-west1.gcp.confluent.cloud:9092 \
      --stack-env DATALAB_KAFKA_TLS=true --stack-env DATALAB_KAFKA_SASL_MECHANISM=PLAIN \
      --stack-env DATALAB_KAFKA_SASL_USERNAME=ABCDEFGHIJKLMNOP --kafka-secret projects/my-lab/secrets/datalab-kafka
  datalab deploy gce --project my-lab --zone europe-west1-b --db-secret projects/my-lab/secrets/datalab-db
  datalab deploy gce --project my-lab --zone europe-west1-b --plan --offline     # no credentials needed
  datalab deploy gce --project my-lab --zone europe-west1-b --print-startup-script`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		o, cfg := deployOpts, gceCfg
		cfg.Stack = o.stack
		if o.printScript {
			s, err := gce.StartupScript(cfg)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), s)
			return err
		}
		offline, err := gce.Offline(cfg) // checks the flags before any call
		if err != nil {
			return err
		}
		if o.plan && o.offline {
			return printPlan(cmd.OutOrStdout(), offline, o)
		}
		opts := []option.ClientOption{}
		if o.endpoint != "" {
			opts = append(opts, option.WithEndpoint(o.endpoint))
			if isLoopback(o.endpoint) { // a local fake: never send it a token
				opts = append(opts, option.WithoutAuthentication())
			}
		}
		d, err := gce.New(cmd.Context(), cfg, slog.Default(), opts...)
		if err != nil {
			if o.plan {
				slog.Warn("cannot reach Compute Engine: planning against an empty project", "err", err)
				return printPlan(cmd.OutOrStdout(), offline, o)
			}
			return fmt.Errorf("%w (credentials: Application Default Credentials, see docs/deploy-cloud.md)", err)
		}
		return runDeployment(cmd.Context(), cmd.OutOrStdout(), d, o)
	},
}

var deployAWSCmd = &cobra.Command{
	Use:   "aws",
	Short: "Deploy the stack to an EC2 auto-scaling group (1–3) behind an application load balancer",
	Long: `deploy aws creates or updates, in --region and --vpc (every name starts with --name):

  security-group <name>-alb   tcp:80 (and 443 with --certificate-arn) from 0.0.0.0/0
  security-group <name>-app   the --app-port from <name>-alb only (a group reference, no CIDR);
                              tcp:22 only from --ssh-cidr when given (never the internet);
                              any other ingress found on it is revoked
  security-group rule         with --db-security-group: --db-port on the database's group
                              from <name>-app (nothing else on that group is touched)
  launch-template <name>      --ami, --instance-type, --instance-profile, the app group,
                              IMDSv2 required (hop limit 2), user-data that reads --db-secret
                              from Secrets Manager and runs docker compose up
                              (print it with --print-user-data); a change adds a version
  target-group <name>         HTTP --app-port, health check GET --health-check-path → 200
  load-balancer <name>        internet-facing ALB in --subnets with <name>-alb
  listeners                   80 → target group; with --certificate-arn 80 → redirect to 443,
                              443 HTTPS (TLS 1.2/1.3 policy) → target group
  auto-scaling-group <name>   min 1, max 3, desired 1, $Latest template, ELB health checks;
                              a new template version starts an instance refresh

The instance profile is not created: give one whose role may
secretsmanager:GetSecretValue on --db-secret and --kafka-secret (and s3:GetObject on s3://
compose and models URLs). The user-data expects Amazon Linux 2023 (dnf, the AWS CLI).`,
	Example: `  datalab deploy aws --region eu-west-1 --vpc vpc-0abc --subnets subnet-1,subnet-2 \
      --ami ami-0123456789abcdef0 --instance-profile datalab-app \
      --db-secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:datalab/db-AbCdEf --plan
  datalab deploy aws … --certificate-arn arn:aws:acm:eu-west-1:123456789012:certificate/… \
      --db-security-group sg-0db --db-port 5432
  datalab deploy aws … --stack-env DATALAB_BROKERS=b-1.lab.abc.kafka.eu-west-1.amazonaws.com:9096 \
      --stack-env DATALAB_KAFKA_TLS=true --stack-env DATALAB_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 \
      --stack-env DATALAB_KAFKA_SASL_USERNAME=datalab \
      --kafka-secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_datalab-AbCdEf
  datalab deploy aws … --plan --offline --exit-code      # no credentials; exit 2 when there are changes`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		o, cfg := deployOpts, awsCfg
		cfg.Stack = o.stack
		if o.printScript {
			s, err := aws.UserData(cfg)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), s)
			return err
		}
		offline, err := aws.Offline(cfg)
		if err != nil {
			return err
		}
		if o.plan && o.offline {
			return printPlan(cmd.OutOrStdout(), offline, o)
		}
		loads := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
		if o.endpoint != "" {
			loads = append(loads, config.WithBaseEndpoint(o.endpoint))
		}
		sdk, err := config.LoadDefaultConfig(cmd.Context(), loads...)
		if err == nil {
			_, err = sdk.Credentials.Retrieve(cmd.Context())
		}
		if err != nil {
			if o.plan {
				slog.Warn("no usable AWS credentials: planning against an empty account", "err", err)
				return printPlan(cmd.OutOrStdout(), offline, o)
			}
			return fmt.Errorf("AWS credentials: %w (see docs/deploy-cloud.md)", err)
		}
		d, err := aws.New(cfg, aws.NewClients(sdk), slog.Default())
		if err != nil {
			return err
		}
		return runDeployment(cmd.Context(), cmd.OutOrStdout(), d, o)
	},
}

// planner is what both targets' Deployers do.
type planner interface {
	Plan(context.Context) (*deploy.Deployment, error)
}

// runDeployment reads the state, prints the plan and, without --plan,
// applies it.
func runDeployment(ctx context.Context, out io.Writer, p planner, o deployOptions) error {
	dep, err := p.Plan(ctx)
	if err != nil {
		return err
	}
	if o.plan {
		return printPlan(out, &dep.Plan, o)
	}
	if _, err := dep.Plan.WriteTo(out); err != nil {
		return err
	}
	if !dep.Plan.Empty() {
		if err := dep.Apply(ctx, slog.Default()); err != nil {
			return fmt.Errorf("deploy: %w (changes before it stay made; run again to finish)", err)
		}
		n := len(dep.Plan.Changes)
		fmt.Fprintf(out, "\nApplied %d change%s.\n", n, map[bool]string{true: "s"}[n != 1])
	}
	if dep.URL != "" {
		fmt.Fprintf(out, "The app: %s\n", dep.URL)
	}
	return nil
}

// planChanges is --plan --exit-code's result when there is something to do.
type planChanges struct{ n int }

func (e planChanges) Error() string { return fmt.Sprintf("the plan has %d changes", e.n) }
func (e planChanges) ExitCode() int { return 2 }

func printPlan(out io.Writer, p *deploy.Plan, o deployOptions) error {
	if _, err := p.WriteTo(out); err != nil {
		return err
	}
	if o.exitCode && !p.Empty() {
		return planChanges{len(p.Changes)}
	}
	return nil
}

// isLoopback reports whether an endpoint URL names this machine.
func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func init() {
	pf := deployCmd.PersistentFlags()
	pf.BoolVar(&deployOpts.plan, "plan", false, "print what would change and change nothing (reads the current state when credentials allow)")
	pf.BoolVar(&deployOpts.offline, "offline", false, "with --plan: do not read the cloud, plan against an empty one")
	pf.BoolVar(&deployOpts.exitCode, "exit-code", false, "with --plan: exit 2 when the plan has changes (0 when up to date)")
	pf.StringVar(&deployOpts.stack.ComposeURL, "compose-url", envOr("DATALAB_COMPOSE_URL", deploy.DefaultComposeURL),
		"where the VM fetches the compose file: https://…, gs://bucket/object (GCE) or s3://bucket/key (AWS) (env DATALAB_COMPOSE_URL)")
	pf.StringVar(&deployOpts.stack.ComposeImage, "compose-image", envOr("DATALAB_COMPOSE_IMAGE", deploy.DefaultComposeImage),
		"image whose docker compose starts the stack on the VM (env DATALAB_COMPOSE_IMAGE)")
	pf.StringVar(&deployOpts.stack.ModelsURL, "models-url", envOr("DATALAB_MODELS_URL", ""),
		"a .tar.gz of the models directory (matches/form3/, flights/…, distances/…) the VM fetches and unpacks at every boot: https://, gs:// or s3:// (env DATALAB_MODELS_URL)")
	pf.StringToStringVar(&deployOpts.stack.Env, "stack-env", nil,
		"more compose settings, KEY=VALUE, repeatable (DATALAB_VERSION, DATALAB_REGISTRY, DATALAB_SITE, DATALAB_MODEL, DATALAB_PARTITIONS…); stored in clear, so nothing secret")
	pf.StringVar(&deployOpts.stack.DBSecret, "db-secret", envOr("DATALAB_DB_SECRET", ""),
		"secret holding the database DSN (a reference, never the DSN): projects/P/secrets/S[/versions/V] on GCE, a Secrets Manager ARN on AWS (env DATALAB_DB_SECRET)")
	pf.StringVar(&deployOpts.stack.KafkaSecret, "kafka-secret", envOr("DATALAB_KAFKA_SECRET", ""),
		"secret holding the SASL password of the external Kafka named by --stack-env DATALAB_BROKERS (a reference, never the password): projects/P/secrets/S[/versions/V] on GCE, a Secrets Manager ARN on AWS; the VM writes it to a file only the apps' user may read (env DATALAB_KAFKA_SECRET)")
	pf.StringVar(&deployOpts.endpoint, "endpoint", envOr("DATALAB_DEPLOY_ENDPOINT", ""),
		"API endpoint override, for a private endpoint or a local fake (GCE: base URL ending in /compute/v1/; AWS: every service's base URL)")
	pf.MarkHidden("endpoint")

	g := deployGCECmd.Flags()
	g.StringVar(&gceCfg.Project, "project", envOr("DATALAB_GCE_PROJECT", envOr("GOOGLE_CLOUD_PROJECT", "")), "GCP project (env DATALAB_GCE_PROJECT or GOOGLE_CLOUD_PROJECT)")
	g.StringVar(&gceCfg.Zone, "zone", envOr("DATALAB_GCE_ZONE", ""), "zone of the VM, e.g. europe-west1-b (env DATALAB_GCE_ZONE)")
	g.StringVar(&gceCfg.Name, "name", envOr("DATALAB_DEPLOY_NAME", gce.DefaultName), "VM name, network tag and firewall prefix (env DATALAB_DEPLOY_NAME)")
	g.StringVar(&gceCfg.MachineType, "machine-type", gce.DefaultMachineType, "machine type")
	g.StringVar(&gceCfg.Image, "image", gce.DefaultImage, "boot image (a Container-Optimized OS family or image)")
	g.StringVar(&gceCfg.Network, "network", gce.DefaultNetwork, "VPC network")
	g.StringVar(&gceCfg.ServiceAccount, "service-account", envOr("DATALAB_GCE_SERVICE_ACCOUNT", gce.DefaultServiceAccount),
		`the VM's service account email ("default" = the Compute Engine default account) (env DATALAB_GCE_SERVICE_ACCOUNT)`)
	g.BoolVar(&gceCfg.SSHViaIAP, "ssh-via-iap", false, "open tcp:22 from Identity-Aware Proxy's range 35.235.240.0/20 only (gcloud compute ssh --tunnel-through-iap)")
	g.BoolVar(&gceCfg.Recreate, "recreate", false, "allow deleting and recreating the VM when its machine type or service account changes")
	g.BoolVar(&deployOpts.printScript, "print-startup-script", false, "print the VM's startup script and exit")

	a := deployAWSCmd.Flags()
	a.StringVar(&awsCfg.Region, "region", envOr("DATALAB_AWS_REGION", envOr("AWS_REGION", envOr("AWS_DEFAULT_REGION", ""))), "AWS region (env DATALAB_AWS_REGION, AWS_REGION)")
	a.StringVar(&awsCfg.Name, "name", envOr("DATALAB_DEPLOY_NAME", aws.DefaultName), "name of every resource, prefix of the security groups (env DATALAB_DEPLOY_NAME)")
	a.StringVar(&awsCfg.VPCID, "vpc", envOr("DATALAB_AWS_VPC", ""), "VPC id (env DATALAB_AWS_VPC)")
	a.StringSliceVar(&awsCfg.SubnetIDs, "subnets", splitList(envOr("DATALAB_AWS_SUBNETS", "")), "subnets for the load balancer and instances, at least two availability zones (env DATALAB_AWS_SUBNETS, comma-separated)")
	a.StringVar(&awsCfg.AMI, "ami", envOr("DATALAB_AWS_AMI", ""), "AMI of the instances, Amazon Linux 2023 (env DATALAB_AWS_AMI)")
	a.StringVar(&awsCfg.InstanceType, "instance-type", aws.DefaultInstanceType, "EC2 instance type")
	a.StringVar(&awsCfg.InstanceProfile, "instance-profile", envOr("DATALAB_AWS_INSTANCE_PROFILE", ""), "name or ARN of an IAM instance profile that may read --db-secret and --kafka-secret (env DATALAB_AWS_INSTANCE_PROFILE)")
	a.IntVar(&awsCfg.AppPort, "app-port", aws.DefaultAppPort, "port the instances publish the web app on (target group port; reachable from the load balancer only)")
	a.StringVar(&awsCfg.HealthCheckPath, "health-check-path", aws.DefaultHealthCheckPath, "path the load balancer checks on every instance (must answer 200)")
	a.StringVar(&awsCfg.CertificateARN, "certificate-arn", envOr("DATALAB_AWS_CERTIFICATE_ARN", ""), "ACM certificate: adds HTTPS on 443 and redirects 80 to it (env DATALAB_AWS_CERTIFICATE_ARN)")
	a.StringVar(&awsCfg.SSHCIDR, "ssh-cidr", "", "open SSH to the instances from this network only (e.g. 203.0.113.7/32); 0.0.0.0/0 and ::/0 are refused")
	a.StringVar(&awsCfg.DBSecurityGroupID, "db-security-group", envOr("DATALAB_AWS_DB_SECURITY_GROUP", ""), "the RDS instance's security group: gets --db-port from the instances' group (env DATALAB_AWS_DB_SECURITY_GROUP)")
	a.IntVar(&awsCfg.DBPort, "db-port", aws.DefaultDBPort, "database port for --db-security-group (5432 PostgreSQL, 3306 MySQL)")
	a.BoolVar(&deployOpts.printScript, "print-user-data", false, "print the instances' user-data script and exit")

	deployCmd.AddCommand(deployGCECmd, deployAWSCmd)
	rootCmd.AddCommand(deployCmd)
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
