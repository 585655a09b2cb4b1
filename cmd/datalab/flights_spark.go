package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awsemr "github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/datalabhq/datalab/flights/emr"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/flights/sparkjob"
)

// Training engines of `datalab train flights`.
const (
	engineGo    = "go"
	engineSpark = "spark"
	// sparkModelsDir is where Spark-trained models go unless --models says
	// otherwise: not over the Go models, which datalab.lock records and
	// `datalab evaluate flights` checks against the Go split.
	sparkModelsDir = "build/models/flights-spark"
)

var sparkFlags struct {
	engine, runner string
	// local runner
	sparkSubmit, master string
	submitArgs          []string
	// emr runner
	bucket, release, region  string
	coreNodes                int
	masterTypes, coreTypes   []string
	masterOnDemand           bool
	serviceRole, profile     string
	subnets                  []string
	spotTimeout, idleTimeout time.Duration
	ingest, s3PathStyle      bool
	dataDir, binary          string
	pollInitial, pollMax     time.Duration
}

// sparkEnv names the environment variable of each non-string flag of the
// Spark engine; string flags take theirs through envOr.
var sparkEnv = map[string]string{
	"core-nodes":            "DATALAB_EMR_CORE_NODES",
	"on-demand-master":      "DATALAB_EMR_ON_DEMAND_MASTER",
	"spot-timeout":          "DATALAB_EMR_SPOT_TIMEOUT",
	"idle-timeout":          "DATALAB_EMR_IDLE_TIMEOUT",
	"emr-ingest":            "DATALAB_EMR_INGEST",
	"s3-path-style":         "DATALAB_S3_PATH_STYLE",
	"master-instance-types": "DATALAB_EMR_MASTER_INSTANCE_TYPES",
	"core-instance-types":   "DATALAB_EMR_CORE_INSTANCE_TYPES",
	"subnet":                "DATALAB_EMR_SUBNETS",
}

// applySparkEnv sets every flag of sparkEnv the command line left alone
// from its environment variable, parsed as the flag would be.
func applySparkEnv(cmd *cobra.Command) error {
	for flag, env := range sparkEnv {
		v := os.Getenv(env)
		if v == "" || cmd.Flags().Changed(flag) {
			continue
		}
		if err := cmd.Flags().Set(flag, v); err != nil {
			return fmt.Errorf("%s=%q: %w", env, v, err)
		}
	}
	return nil
}

func init() {
	f := trainFlightsCmd.Flags()
	// No environment variable for the engine: the pipeline's train-flights
	// stage must stay the Go trainer whatever the environment says.
	f.StringVar(&sparkFlags.engine, "engine", engineGo, "go (train in this process) or spark (submit the PySpark job)")
	f.StringVar(&sparkFlags.runner, "runner", envOr("DATALAB_SPARK_RUNNER", "local"), "with --engine spark: local (spark-submit here) or emr (a transient EMR cluster; env DATALAB_SPARK_RUNNER)")
	f.StringVar(&sparkFlags.sparkSubmit, "spark-submit", envOr("DATALAB_SPARK_SUBMIT", ""), "local runner: spark-submit to run (default: on PATH, else $SPARK_HOME/bin; env DATALAB_SPARK_SUBMIT)")
	f.StringVar(&sparkFlags.master, "spark-master", envOr("DATALAB_SPARK_MASTER", sparkjob.DefaultMaster), "local runner: Spark master (env DATALAB_SPARK_MASTER)")
	f.StringArrayVar(&sparkFlags.submitArgs, "spark-submit-arg", nil, "local runner: an extra spark-submit option before the job, repeatable (e.g. --spark-submit-arg=--driver-memory=6g)")
	f.StringVar(&sparkFlags.bucket, "bucket", envOr("DATALAB_BUCKET", ""), "emr runner: s3://NAME[/PREFIX] holding raw/, parquet/, scripts/, models/, logs/, bin/ (env DATALAB_BUCKET)")
	f.StringVar(&sparkFlags.release, "emr-release", envOr("DATALAB_EMR_RELEASE", emr.DefaultReleaseLabel), "emr runner: EMR release label (env DATALAB_EMR_RELEASE)")
	f.StringVar(&sparkFlags.region, "region", "", "emr runner: AWS region (default: AWS_REGION / the AWS profile)")
	f.IntVar(&sparkFlags.coreNodes, "core-nodes", emr.DefaultCoreNodes, "emr runner: core nodes besides the master (env DATALAB_EMR_CORE_NODES)")
	f.StringSliceVar(&sparkFlags.masterTypes, "master-instance-types", emr.DefaultInstanceTypes, "emr runner: instance types of the master fleet (env DATALAB_EMR_MASTER_INSTANCE_TYPES)")
	f.StringSliceVar(&sparkFlags.coreTypes, "core-instance-types", emr.DefaultInstanceTypes, "emr runner: instance types of the core fleet (env DATALAB_EMR_CORE_INSTANCE_TYPES)")
	f.BoolVar(&sparkFlags.masterOnDemand, "on-demand-master", false, "emr runner: master on on-demand capacity instead of spot (env DATALAB_EMR_ON_DEMAND_MASTER)")
	f.StringVar(&sparkFlags.serviceRole, "emr-service-role", envOr("DATALAB_EMR_SERVICE_ROLE", emr.DefaultServiceRole), "emr runner: EMR service role (env DATALAB_EMR_SERVICE_ROLE)")
	f.StringVar(&sparkFlags.profile, "emr-instance-profile", envOr("DATALAB_EMR_INSTANCE_PROFILE", emr.DefaultInstanceProfile), "emr runner: EC2 instance profile of the nodes (env DATALAB_EMR_INSTANCE_PROFILE)")
	f.StringSliceVar(&sparkFlags.subnets, "subnet", nil, "emr runner: candidate subnet ids, repeatable (default VPC if none; env DATALAB_EMR_SUBNETS)")
	f.DurationVar(&sparkFlags.spotTimeout, "spot-timeout", emr.DefaultSpotTimeout, "emr runner: wait this long for spot capacity, then switch to on-demand (env DATALAB_EMR_SPOT_TIMEOUT)")
	f.DurationVar(&sparkFlags.idleTimeout, "idle-timeout", emr.DefaultIdleTimeout, "emr runner: EMR ends the cluster after this long without steps, if this process could not (env DATALAB_EMR_IDLE_TIMEOUT)")
	f.BoolVar(&sparkFlags.ingest, "emr-ingest", true, "emr runner: ingest on the cluster from the raw files (needs a linux datalab binary, see --datalab-binary); false uploads the local Parquet file (env DATALAB_EMR_INGEST)")
	f.StringVar(&sparkFlags.dataDir, "data-dir", "data", "emr runner: the directory 'datalab data pull' filled, uploaded to raw/ for the ingest step")
	f.StringVar(&sparkFlags.binary, "datalab-binary", envOr("DATALAB_EMR_BINARY", ""), "emr runner: linux datalab binary the nodes run (default: this executable on linux/amd64; env DATALAB_EMR_BINARY)")
	f.BoolVar(&sparkFlags.s3PathStyle, "s3-path-style", false, "emr runner: path-style S3 requests, for S3-compatible stores (env DATALAB_S3_PATH_STYLE)")
	f.DurationVar(&sparkFlags.pollInitial, "emr-poll", emr.DefaultBackoff.Initial, "emr runner: first wait between step polls; it doubles up to --emr-poll-max")
	f.DurationVar(&sparkFlags.pollMax, "emr-poll-max", emr.DefaultBackoff.Max, "emr runner: longest wait between step polls")

	sparkCmd.AddCommand(sparkJobCmd, sparkArgsCmd)
	addFlightsFlags(sparkArgsCmd, "pipeline")
	sparkArgsCmd.Flags().StringVar(&sparkArgsFlags.variant, "variant", "", "variant of params.flights (default params.flights.serve_variant)")
	sparkArgsCmd.Flags().StringVar(&sparkArgsFlags.data, "data", "", "where the job reads the Parquet file (default the variant's data)")
	sparkArgsCmd.Flags().StringVar(&sparkArgsFlags.output, "output", "", "where the job saves the model (default "+sparkModelsDir+"/<variant>)")
	rootCmd.AddCommand(sparkCmd)
}

var sparkCmd = &cobra.Command{
	Use:   "spark",
	Short: "The PySpark training job behind `datalab train flights --engine spark`",
}

var sparkJobCmd = &cobra.Command{
	Use:   "job",
	Short: "Print the PySpark job (train_flights.py) shipped in this binary",
	Long: `spark job prints train_flights.py, the PySpark job that ` + "`datalab train flights\n--engine spark`" + ` submits: the Go flight pipeline (label Bucketizer, StringIndexers,
VectorAssembler, RandomForestClassifier) trained by Spark and saved as a
PipelineModel the Go server loads. Save it to submit it yourself or to upload it:

  datalab spark job > train_flights.py
  spark-submit --master 'local[*]' train_flights.py $(datalab spark args --variant bts)`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		_, err := cmd.OutOrStdout().Write(sparkjob.JobSource())
		return err
	},
}

var sparkArgsFlags struct{ variant, data, output string }

var sparkArgsCmd = &cobra.Command{
	Use:   "args [--variant v] [--data PATH] [--output DIR]",
	Short: "Print the job's arguments for a variant of params.flights, shell-quoted",
	Long: `spark args prints the arguments ` + "`datalab train flights --engine spark`" + ` passes to
train_flights.py for a variant: every field of params.flights' split and the
variant, the forest's with Spark's defaults filled in. Use it to run the job by
hand:

  spark-submit --master 'local[*]' train_flights.py $(datalab spark args --variant bts)`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := flightsConfig(flightsFlags.pipeline)
		if err != nil {
			return err
		}
		name := sparkArgsFlags.variant
		if name == "" {
			name = cfg.ServeVariant
		}
		v, err := cfg.Variant(name)
		if err != nil {
			return err
		}
		job := sparkjob.NewJob(cfg, v, sparkModelsDir)
		data, out := sparkArgsFlags.data, sparkArgsFlags.output
		if data == "" {
			data = v.Data
		}
		if out == "" {
			out = job.ModelDir
		}
		if err := job.Validate(); err != nil {
			return err
		}
		var quoted []string
		for _, a := range job.Args(data, out) {
			quoted = append(quoted, shellQuote(a))
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), strings.Join(quoted, " "))
		return err
	},
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// trainFlightsSpark is `datalab train flights --engine spark`: each chosen
// variant (default: the served one) is trained by the PySpark job on the
// runner and installed under --models (default build/models/flights-spark).
func trainFlightsSpark(cmd *cobra.Command, cfg flightmodel.Config) error {
	if sparkFlags.engine != engineSpark {
		return fmt.Errorf("--engine %q: want %s or %s", sparkFlags.engine, engineGo, engineSpark)
	}
	if err := applySparkEnv(cmd); err != nil {
		return err
	}
	models := flightsFlags.models
	if !cmd.Flags().Changed("models") {
		models = sparkModelsDir
	}
	names := flightsFlags.variants
	if len(names) == 0 {
		if cfg.ServeVariant == "" {
			return fmt.Errorf("give --variant: params.flights has no serve_variant")
		}
		names = []string{cfg.ServeVariant}
	}
	runner, err := sparkRunner(cmd.Context(), cmd)
	if err != nil {
		return err
	}
	for _, name := range names {
		v, err := cfg.Variant(name)
		if err != nil {
			return err
		}
		start := time.Now()
		dir, err := runner.Submit(cmd.Context(), sparkjob.NewJob(cfg, v, models))
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%-16s trained on Spark (%s runner) in %s → %s\n", v.Name, sparkFlags.runner, time.Since(start).Round(time.Second), dir)
	}
	return nil
}

// sparkRunner builds the runner the flags ask for.
func sparkRunner(ctx context.Context, cmd *cobra.Command) (sparkjob.Runner, error) {
	switch sparkFlags.runner {
	case "local":
		return &sparkjob.LocalRunner{SparkSubmit: sparkFlags.sparkSubmit, Master: sparkFlags.master, SubmitArgs: sparkFlags.submitArgs,
			Stdout: cmd.ErrOrStderr(), Stderr: cmd.ErrOrStderr()}, nil
	case "emr":
	default:
		return nil, fmt.Errorf("--runner %q: want local or emr", sparkFlags.runner)
	}
	bucket, err := emr.ParseBucket(sparkFlags.bucket)
	if err != nil {
		return nil, fmt.Errorf("--bucket: %w", err)
	}
	var opts []func(*config.LoadOptions) error
	if sparkFlags.region != "" {
		opts = append(opts, config.WithRegion(sparkFlags.region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set AWS_REGION, a profile's region, or --region")
	}
	r := &emr.Runner{
		EMR: awsemr.NewFromConfig(awsCfg),
		S3:  s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = sparkFlags.s3PathStyle }),
		Config: emr.Config{
			Bucket: bucket, ReleaseLabel: sparkFlags.release, CoreNodes: sparkFlags.coreNodes,
			MasterInstanceTypes: sparkFlags.masterTypes, CoreInstanceTypes: sparkFlags.coreTypes, MasterOnDemand: sparkFlags.masterOnDemand,
			ServiceRole: sparkFlags.serviceRole, InstanceProfile: sparkFlags.profile, SubnetIDs: sparkFlags.subnets,
			SpotTimeout: sparkFlags.spotTimeout, IdleTimeout: sparkFlags.idleTimeout,
			Tags: map[string]string{"datalab:use-case": "flights", "datalab:version": version},
		},
		Poll: emr.Backoff{Initial: sparkFlags.pollInitial, Max: sparkFlags.pollMax},
	}
	if sparkFlags.ingest {
		bin := sparkFlags.binary
		if bin == "" && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
			if bin, err = os.Executable(); err != nil {
				return nil, err
			}
		}
		r.Ingest = &emr.Ingest{DataDir: sparkFlags.dataDir, Binary: bin}
	}
	return r, nil
}
