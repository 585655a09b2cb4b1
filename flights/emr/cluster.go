package emr

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsemr "github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"
)

// Defaults of Config.
const (
	// DefaultReleaseLabel is an EMR 7 release with Spark 3.5 (emr-7.13.0
	// ships Spark 3.5.6-amzn-2 per the EMR release guide's Spark release
	// history); the Go server reads Spark 3.x models.
	DefaultReleaseLabel = "emr-7.13.0"
	// DefaultCoreNodes is the seed's cluster: 1 master + 2 core.
	DefaultCoreNodes = 2
	// DefaultServiceRole and DefaultInstanceProfile are the roles
	// `aws emr create-default-roles` creates.
	DefaultServiceRole     = "EMR_DefaultRole"
	DefaultInstanceProfile = "EMR_EC2_DefaultRole"
	// DefaultSpotTimeout is how long a fleet waits for spot capacity before
	// it switches to on-demand.
	DefaultSpotTimeout = 10 * time.Minute
	// DefaultSpotAllocation is the spot allocation strategy AWS recommends
	// for fleets: low price among the pools least likely to be interrupted.
	DefaultSpotAllocation = string(types.SpotProvisioningAllocationStrategyPriceCapacityOptimized)
	// DefaultIdleTimeout ends a cluster that has had no step for this long,
	// whatever happened to the process that started it.
	DefaultIdleTimeout = time.Hour
)

// DefaultInstanceTypes are interchangeable x86-64 types (4 vCPU, 16 GiB):
// several pools make spot capacity likelier. Graviton types need an arm64
// datalab binary for the ingest step.
var DefaultInstanceTypes = []string{"m5.xlarge", "m5a.xlarge", "m6i.xlarge"}

// Config describes the cluster.
type Config struct {
	// Bucket holds every input and output (see Bucket).
	Bucket Bucket
	// Name is the cluster's name (Runner.Submit: datalab-train-flights-<variant>
	// when empty).
	Name string
	// ReleaseLabel is the EMR release, e.g. emr-7.13.0.
	ReleaseLabel string
	// CoreNodes is the number of core nodes (capacity units of weight 1).
	CoreNodes int
	// MasterInstanceTypes and CoreInstanceTypes are the fleets' instance
	// types.
	MasterInstanceTypes, CoreInstanceTypes []string
	// MasterOnDemand runs the master on on-demand capacity: a spot
	// interruption of the master ends the cluster and the run.
	MasterOnDemand bool
	// ServiceRole is the EMR service role, InstanceProfile the EC2
	// instance profile of the nodes (JobFlowRole).
	ServiceRole, InstanceProfile string
	// SubnetIDs are candidate subnets for the fleets (EMR picks one); empty
	// means the account's default VPC. Use private subnets: nothing here
	// needs an inbound rule.
	SubnetIDs []string
	// SpotTimeout is how long to wait for spot capacity before switching
	// to on-demand (whole minutes, 5 to 1440).
	SpotTimeout time.Duration
	// SpotAllocation is the spot allocation strategy.
	SpotAllocation string
	// IdleTimeout is the auto-termination idle timeout (60 s to 7 days).
	IdleTimeout time.Duration
	// Tags are added to the cluster (and its instances); Runner.Submit adds
	// datalab:variant.
	Tags map[string]string
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.ReleaseLabel == "" {
		c.ReleaseLabel = DefaultReleaseLabel
	}
	if c.CoreNodes == 0 {
		c.CoreNodes = DefaultCoreNodes
	}
	if len(c.MasterInstanceTypes) == 0 {
		c.MasterInstanceTypes = DefaultInstanceTypes
	}
	if len(c.CoreInstanceTypes) == 0 {
		c.CoreInstanceTypes = DefaultInstanceTypes
	}
	if c.ServiceRole == "" {
		c.ServiceRole = DefaultServiceRole
	}
	if c.InstanceProfile == "" {
		c.InstanceProfile = DefaultInstanceProfile
	}
	if c.SpotTimeout == 0 {
		c.SpotTimeout = DefaultSpotTimeout
	}
	if c.SpotAllocation == "" {
		c.SpotAllocation = DefaultSpotAllocation
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Validate checks c (after WithDefaults) against the API's limits, so a
// mistake fails here and not after a cluster request.
func (c Config) Validate() error {
	switch {
	case c.Bucket.Name == "":
		return fmt.Errorf("emr: no bucket: give --bucket s3://NAME (it holds raw/, parquet/, scripts/, models/, logs/)")
	case !strings.HasPrefix(c.ReleaseLabel, "emr-"):
		return fmt.Errorf("emr: release label %q, want emr-X.Y.Z (e.g. %s)", c.ReleaseLabel, DefaultReleaseLabel)
	case c.CoreNodes < 1:
		return fmt.Errorf("emr: %d core nodes, want at least 1", c.CoreNodes)
	case c.SpotTimeout < 5*time.Minute || c.SpotTimeout > 24*time.Hour:
		return fmt.Errorf("emr: spot timeout %v, want 5m to 24h", c.SpotTimeout)
	case c.IdleTimeout < time.Minute || c.IdleTimeout > 7*24*time.Hour:
		return fmt.Errorf("emr: idle timeout %v, want 1m to 168h", c.IdleTimeout)
	}
	if !slices.Contains(types.SpotProvisioningAllocationStrategy("").Values(), types.SpotProvisioningAllocationStrategy(c.SpotAllocation)) {
		return fmt.Errorf("emr: spot allocation strategy %q, want one of %v", c.SpotAllocation, types.SpotProvisioningAllocationStrategy("").Values())
	}
	return nil
}

// RunJobFlowInput is the cluster request: Spark on ReleaseLabel, a master
// fleet of 1 and a core fleet of CoreNodes, each on spot capacity (the
// master on-demand with MasterOnDemand) switching to on-demand after
// SpotTimeout, the bootstrap actions, logs under the bucket's logs/, kept
// alive between steps (the runner terminates it) with an idle timeout as a
// backstop. No EC2 key pair and no security group is set: nothing is opened
// to the network; EMR's managed groups apply.
func (c Config) RunJobFlowInput(bootstrap []types.BootstrapActionConfig) *awsemr.RunJobFlowInput {
	var tags []types.Tag
	for _, k := range slices.Sorted(maps.Keys(c.Tags)) {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(c.Tags[k])})
	}
	return &awsemr.RunJobFlowInput{
		Name:         aws.String(c.Name),
		ReleaseLabel: aws.String(c.ReleaseLabel),
		Applications: []types.Application{{Name: aws.String("Spark")}},
		LogUri:       aws.String(c.Bucket.URI(LogsPrefix) + "/"),
		Instances: &types.JobFlowInstancesConfig{
			InstanceFleets: []types.InstanceFleetConfig{
				c.fleet("master", types.InstanceFleetTypeMaster, 1, c.MasterInstanceTypes, c.MasterOnDemand),
				c.fleet("core", types.InstanceFleetTypeCore, c.CoreNodes, c.CoreInstanceTypes, false),
			},
			Ec2SubnetIds:                c.SubnetIDs,
			KeepJobFlowAliveWhenNoSteps: aws.Bool(true),
			TerminationProtected:        aws.Bool(false),
		},
		BootstrapActions:      bootstrap,
		ServiceRole:           aws.String(c.ServiceRole),
		JobFlowRole:           aws.String(c.InstanceProfile),
		VisibleToAllUsers:     aws.Bool(true),
		AutoTerminationPolicy: &types.AutoTerminationPolicy{IdleTimeout: aws.Int64(int64(c.IdleTimeout / time.Second))},
		Tags:                  tags,
	}
}

// fleet is an instance fleet of n capacity units (one per instance, every
// type weighted 1) on spot capacity, or on-demand with onDemand.
func (c Config) fleet(name string, kind types.InstanceFleetType, n int, instanceTypes []string, onDemand bool) types.InstanceFleetConfig {
	f := types.InstanceFleetConfig{
		Name:                   aws.String(name),
		InstanceFleetType:      kind,
		TargetSpotCapacity:     aws.Int32(int32(n)),
		TargetOnDemandCapacity: aws.Int32(0),
		LaunchSpecifications: &types.InstanceFleetProvisioningSpecifications{
			SpotSpecification: &types.SpotProvisioningSpecification{
				TimeoutDurationMinutes: aws.Int32(int32(c.SpotTimeout / time.Minute)),
				TimeoutAction:          types.SpotProvisioningTimeoutActionSwitchToOnDemand,
				AllocationStrategy:     types.SpotProvisioningAllocationStrategy(c.SpotAllocation),
			},
			OnDemandSpecification: &types.OnDemandProvisioningSpecification{
				AllocationStrategy: types.OnDemandProvisioningAllocationStrategyLowestPrice,
			},
		},
	}
	if onDemand {
		f.TargetSpotCapacity, f.TargetOnDemandCapacity = aws.Int32(0), aws.Int32(int32(n))
	}
	for _, t := range instanceTypes {
		f.InstanceTypeConfigs = append(f.InstanceTypeConfigs, types.InstanceTypeConfig{InstanceType: aws.String(t), WeightedCapacity: aws.Int32(1)})
	}
	return f
}

// The bucket's prefixes: the seed's buckets (raw, parquet, scripts, models,
// logs) as prefixes of one bucket, plus bin/ for the datalab binary the
// ingest step runs.
const (
	RawPrefix     = "raw"
	ParquetPrefix = "parquet"
	ScriptsPrefix = "scripts"
	ModelsPrefix  = "models"
	LogsPrefix    = "logs"
	BinPrefix     = "bin"
)

// Bucket is an S3 bucket and an optional key prefix under which the lab's
// prefixes live.
type Bucket struct {
	Name, Prefix string
}

// ParseBucket parses s3://NAME or s3://NAME/PREFIX.
func ParseBucket(s string) (Bucket, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Bucket{}, fmt.Errorf("bucket %q: want s3://NAME[/PREFIX]", s)
	}
	name, prefix, _ := strings.Cut(rest, "/")
	if name == "" || strings.ContainsAny(name, " ?#") {
		return Bucket{}, fmt.Errorf("bucket %q: want s3://NAME[/PREFIX]", s)
	}
	return Bucket{Name: name, Prefix: strings.Trim(prefix, "/")}, nil
}

// Key joins parts under the bucket's prefix.
func (b Bucket) Key(parts ...string) string {
	return path.Join(append([]string{b.Prefix}, parts...)...)
}

// URI is the s3:// URI of Key(parts...).
func (b Bucket) URI(parts ...string) string {
	return "s3://" + b.Name + "/" + b.Key(parts...)
}

// String is the bucket's s3:// URI.
func (b Bucket) String() string { return strings.TrimSuffix("s3://"+b.Name+"/"+b.Prefix, "/") }
