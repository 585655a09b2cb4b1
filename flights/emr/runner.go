package emr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsemr "github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datalabhq/datalab/flights/sparkjob"
)

// API is the part of the EMR API the runner calls (*emr.Client has it).
type API interface {
	RunJobFlow(context.Context, *awsemr.RunJobFlowInput, ...func(*awsemr.Options)) (*awsemr.RunJobFlowOutput, error)
	AddJobFlowSteps(context.Context, *awsemr.AddJobFlowStepsInput, ...func(*awsemr.Options)) (*awsemr.AddJobFlowStepsOutput, error)
	DescribeStep(context.Context, *awsemr.DescribeStepInput, ...func(*awsemr.Options)) (*awsemr.DescribeStepOutput, error)
	DescribeCluster(context.Context, *awsemr.DescribeClusterInput, ...func(*awsemr.Options)) (*awsemr.DescribeClusterOutput, error)
	TerminateJobFlows(context.Context, *awsemr.TerminateJobFlowsInput, ...func(*awsemr.Options)) (*awsemr.TerminateJobFlowsOutput, error)
}

// S3API is the part of the S3 API the runner calls (*s3.Client has it).
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	s3.ListObjectsV2APIClient
}

// Backoff is the step polling schedule: Initial, doubling up to Max.
type Backoff struct {
	Initial, Max time.Duration
}

// DefaultBackoff polls a step after 15 s, then less and less often, at
// most every 2 minutes (a cluster takes ~10 minutes to start).
var DefaultBackoff = Backoff{Initial: 15 * time.Second, Max: 2 * time.Minute}

// DefaultTerminateTimeout bounds the terminate call, which runs with a
// context of its own so that it also happens after a cancel.
const DefaultTerminateTimeout = 2 * time.Minute

// Runner trains jobs on transient EMR clusters: one cluster per Submit,
// always terminated.
type Runner struct {
	EMR    API
	S3     S3API
	Config Config
	// Ingest, if set, makes the cluster ingest the data from raw files;
	// otherwise the variant's local Parquet file is uploaded.
	Ingest *Ingest
	// Poll is the step polling schedule (zero: DefaultBackoff).
	Poll Backoff
	// TerminateTimeout bounds TerminateJobFlows (zero: DefaultTerminateTimeout).
	TerminateTimeout time.Duration
	// Log receives progress (nil: slog.Default()).
	Log *slog.Logger
}

var _ sparkjob.Runner = (*Runner)(nil)

// StepError is a step that ended in FAILED, CANCELLED or INTERRUPTED.
type StepError struct {
	ClusterID, StepID, Name  string
	State                    types.StepState
	Reason, Message, LogFile string
	// Cluster is the cluster's state and why, when it could be read.
	Cluster string
}

func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "EMR step %q (%s) on cluster %s ended %s", e.Name, e.StepID, e.ClusterID, e.State)
	for _, s := range []string{e.Reason, e.Message} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	if e.LogFile != "" {
		b.WriteString("; log: " + e.LogFile)
	}
	if e.Cluster != "" {
		b.WriteString("; cluster " + e.Cluster)
	}
	return b.String()
}

// Submit trains job on a new cluster and installs the model in
// job.ModelDir: it uploads the inputs, starts the cluster, adds the steps,
// waits for each, downloads the model from models/flights/<variant> and
// installs it (sparkjob.Install). Once RunJobFlow has returned a cluster,
// TerminateJobFlows is called exactly once whatever happens — success,
// error, cancelled context, panic — and a failure to terminate is part of
// the returned error, with the command that does it by hand.
func (r *Runner) Submit(ctx context.Context, job sparkjob.Job) (modelDir string, err error) {
	cfg := r.Config.WithDefaults()
	if cfg.Name == "" {
		cfg.Name = "datalab-train-flights-" + job.Variant.Name
	}
	cfg.Tags = maps.Clone(cfg.Tags)
	if cfg.Tags == nil {
		cfg.Tags = map[string]string{}
	}
	cfg.Tags["datalab:variant"] = job.Variant.Name
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if err := job.Validate(); err != nil {
		return "", err
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("variant", job.Variant.Name)
	p, err := makePlan(cfg, job, r.Ingest)
	if err != nil {
		return "", err
	}
	for _, u := range p.uploads {
		if err := r.put(ctx, cfg.Bucket, u); err != nil {
			return "", err
		}
	}
	log.Info("staged EMR inputs", "bucket", cfg.Bucket, "objects", len(p.uploads))

	started, err := r.EMR.RunJobFlow(ctx, cfg.RunJobFlowInput(p.bootstrap))
	if err != nil {
		return "", fmt.Errorf("start EMR cluster: %w", err)
	}
	id := aws.ToString(started.JobFlowId)
	if id == "" {
		return "", errors.New("start EMR cluster: RunJobFlow returned no cluster id")
	}
	log = log.With("cluster", id)
	log.Info("EMR cluster starting", "release", cfg.ReleaseLabel, "core_nodes", cfg.CoreNodes, "logs", cfg.Bucket.URI(LogsPrefix, id))
	defer func() { err = errors.Join(err, r.terminate(ctx, id, log)) }()

	added, err := r.EMR.AddJobFlowSteps(ctx, &awsemr.AddJobFlowStepsInput{JobFlowId: aws.String(id), Steps: p.steps})
	if err != nil {
		return "", fmt.Errorf("add steps to EMR cluster %s: %w", id, err)
	}
	if len(added.StepIds) != len(p.steps) {
		return "", fmt.Errorf("add steps to EMR cluster %s: %d step ids for %d steps", id, len(added.StepIds), len(p.steps))
	}
	for i, sid := range added.StepIds {
		if err := r.waitStep(ctx, id, sid, aws.ToString(p.steps[i].Name), log); err != nil {
			return "", err
		}
	}

	staging, err := sparkjob.StagingDir(job.ModelDir)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging)
	local := filepath.Join(staging, "model")
	n, err := r.download(ctx, cfg.Bucket.Name, p.modelKey, local)
	if err != nil {
		return "", fmt.Errorf("fetch the model from s3://%s/%s: %w", cfg.Bucket.Name, p.modelKey, err)
	}
	pl, err := sparkjob.Install(local, job)
	if err != nil {
		return "", fmt.Errorf("variant %s: %w", job.Variant.Name, err)
	}
	log.Info("trained flight model on EMR", "dir", job.ModelDir, "files", n, "trees", len(pl.Model.Trees), "nodes", pl.Model.NumNodes())
	return job.ModelDir, nil
}

// put uploads one object.
func (r *Runner) put(ctx context.Context, b Bucket, u upload) error {
	body := io.ReadSeeker(bytes.NewReader(u.data))
	if u.file != "" {
		f, err := os.Open(u.file)
		if err != nil {
			return fmt.Errorf("stage s3://%s/%s: %w", b.Name, u.key, err)
		}
		defer f.Close()
		body = f
	}
	if _, err := r.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(u.key), Body: body}); err != nil {
		return fmt.Errorf("stage s3://%s/%s: %w", b.Name, u.key, err)
	}
	return nil
}

// waitStep polls a step until it ends, with exponential backoff.
func (r *Runner) waitStep(ctx context.Context, clusterID, stepID, name string, log *slog.Logger) error {
	poll := r.Poll
	if poll.Initial <= 0 {
		poll = DefaultBackoff
	}
	delay, last := poll.Initial, types.StepState("")
	for {
		out, err := r.EMR.DescribeStep(ctx, &awsemr.DescribeStepInput{ClusterId: aws.String(clusterID), StepId: aws.String(stepID)})
		if err != nil {
			return fmt.Errorf("EMR step %q (%s) on cluster %s: %w", name, stepID, clusterID, err)
		}
		if out.Step == nil || out.Step.Status == nil {
			return fmt.Errorf("EMR step %q (%s): DescribeStep returned no status", name, stepID)
		}
		st := out.Step.Status
		if st.State != last {
			log.Info("EMR step", "step", name, "id", stepID, "state", st.State)
			last = st.State
		}
		switch st.State {
		case types.StepStateCompleted:
			return nil
		case types.StepStateFailed, types.StepStateCancelled, types.StepStateInterrupted:
			e := &StepError{ClusterID: clusterID, StepID: stepID, Name: name, State: st.State}
			if fd := st.FailureDetails; fd != nil {
				e.Reason, e.Message, e.LogFile = aws.ToString(fd.Reason), aws.ToString(fd.Message), aws.ToString(fd.LogFile)
			}
			if c, err := r.EMR.DescribeCluster(ctx, &awsemr.DescribeClusterInput{ClusterId: aws.String(clusterID)}); err == nil && c.Cluster != nil && c.Cluster.Status != nil {
				e.Cluster = string(c.Cluster.Status.State)
				if why := c.Cluster.Status.StateChangeReason; why != nil && aws.ToString(why.Message) != "" {
					e.Cluster += " (" + aws.ToString(why.Message) + ")"
				}
			}
			return e
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for EMR step %q (%s): %w", name, stepID, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, poll.Max)
	}
}

// terminate ends the cluster with a context of its own: ctx may be
// cancelled already (Ctrl-C), and the cluster must go regardless.
func (r *Runner) terminate(ctx context.Context, id string, log *slog.Logger) error {
	timeout := r.TerminateTimeout
	if timeout <= 0 {
		timeout = DefaultTerminateTimeout
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if _, err := r.EMR.TerminateJobFlows(tctx, &awsemr.TerminateJobFlowsInput{JobFlowIds: []string{id}}); err != nil {
		log.Error("EMR cluster NOT terminated", "err", err)
		return fmt.Errorf("terminate EMR cluster %s: %w — it keeps costing money until its idle timeout: run `aws emr terminate-clusters --cluster-ids %s`", id, err, id)
	}
	log.Info("EMR cluster terminating")
	return nil
}

// download copies every object under prefix/ to dir, keeping the relative
// paths, and returns how many it wrote. EMRFS directory markers
// ("<dir>_$folder$") are skipped.
func (r *Runner) download(ctx context.Context, bucket, prefix, dir string) (int, error) {
	pages := s3.NewListObjectsV2Paginator(r.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	n := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return n, err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			rel := strings.TrimPrefix(key, prefix+"/")
			if strings.HasSuffix(key, "/") || strings.HasSuffix(key, "_$folder$") {
				continue
			}
			if !filepath.IsLocal(rel) || path.Clean(rel) != rel {
				return n, fmt.Errorf("object %s: key escapes the model directory", key)
			}
			if err := r.get(ctx, bucket, key, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
				return n, err
			}
			n++
		}
	}
	if n == 0 {
		return 0, errors.New("no objects: the training step wrote no model")
	}
	return n, nil
}

func (r *Runner) get(ctx context.Context, bucket, key, dst string) error {
	out, err := r.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("get %s: %w", key, err)
	}
	return f.Close()
}
