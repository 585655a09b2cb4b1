package emr

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/flights/sparkjob"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// modelKey is where the training step saves the bts model.
const modelKey = "models/flights/bts"

// setup is one Submit against the fakes.
type setup struct {
	emr    *fakeEMR
	s3     *objstoretest.S3
	runner *Runner
	job    sparkjob.Job
	// model is the directory "Spark" writes: the course's flight model
	// saved by real Spark 3.5.3, from the data mirror.
	model string
	// binary is the datalab binary the ingest step gets.
	binary []byte
	// scriptStaged records whether the PySpark job was in the bucket when
	// the steps were added.
	scriptStaged atomic.Bool
	// written is what writeModel put under modelKey: relative path → bytes.
	written map[string][]byte
}

// newSetup builds the fakes, a runner over real SDK clients pointed at
// them, and the bts job; with ingest the cluster ingests from raw files,
// otherwise a local Parquet file is uploaded. The first step goes
// PENDING → RUNNING → COMPLETED, later ones RUNNING → COMPLETED.
func newSetup(t *testing.T, ingest bool) *setup {
	t.Helper()
	s := &setup{model: testmirror.Path(t, "spark-models", "flight-delay-spark-3.5.3"), binary: elfHeader(elf.EM_X86_64)}
	s.s3 = objstoretest.NewS3(t, testBucket)
	s.emr = newFakeEMR(t)
	emrClient, s3Client := testClients(t, s.emr.srv.URL, s.s3)
	s.emr.steps = [][]string{{"PENDING", "RUNNING", "COMPLETED"}, {"RUNNING", "RUNNING", "COMPLETED"}}
	s.emr.onAddSteps = func(map[string]any) {
		_, err := s.s3.Backend.HeadObject(testBucket, "scripts/"+sparkjob.JobFileName)
		s.scriptStaged.Store(err == nil)
	}

	dir := t.TempDir()
	v := flightmodel.VariantConfig{Name: "bts", Data: "build/parquet/bts2008.parquet", Features: flightfeat.SeedFeatures,
		Categorical: true, Forest: flightmodel.ForestConfig{NumTrees: 20, MaxDepth: 5, MaxBins: 4657}}
	s.runner = &Runner{EMR: emrClient, S3: s3Client, Poll: Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond},
		Config: Config{Bucket: Bucket{Name: testBucket}, SubnetIDs: []string{"subnet-0a1b2c3d"},
			Tags: map[string]string{"datalab:use-case": "flights"}}}
	if ingest {
		data := filepath.Join(dir, "data")
		for rel, content := range map[string]string{
			"bts2008/flights_2008_4_1.csv":          "2008,4,1,2,...\n",
			"bts2008/flights_2008_5_1.csv":          "2008,5,1,4,...\n",
			"distances/origin_dest_distances.jsonl": `{"Origin":"ATL","Dest":"SFO","Distance":2139.0}` + "\n",
			"matches/international_matches.csv":     "not a flight file\n",
		} {
			testtree.WriteFile(t, filepath.Join(data, rel), content)
		}
		bin := filepath.Join(dir, "datalab-linux-amd64")
		testtree.WriteFile(t, bin, string(s.binary))
		s.runner.Ingest = &Ingest{DataDir: data, Binary: bin}
	} else {
		v.Data = filepath.Join(dir, "bts2008.parquet")
		testtree.WriteFile(t, v.Data, "PAR1 ingested locally PAR1")
	}
	s.job = sparkjob.NewJob(flightmodel.Config{TestFraction: 0.2, SplitSeed: 2008}, v, filepath.Join(dir, "models"))
	return s
}

// elfHeader is the smallest file debug/elf reads as a Linux executable for
// machine: an ELF64 little-endian header without segments.
func elfHeader(machine elf.Machine) []byte {
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT), Ehsize: 64, Phentsize: 56, Shentsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, h)
	return b.Bytes()
}

// writeModel puts s.model under models/flights/bts through the S3 API, as
// Spark on EMR (EMRFS) would, with the directory markers EMRFS leaves.
func (s *setup) writeModel(t *testing.T) {
	t.Helper()
	c := s.s3.Client(t)
	s.written = map[string][]byte{}
	put := func(key string, body []byte) {
		if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.WalkDir(s.model, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(s.model, p)
		put(modelKey+"/"+filepath.ToSlash(rel), b)
		s.written[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	put(modelKey+"_$folder$", nil)
	put(modelKey+"/string_indexer_model_Route.bin_$folder$", nil)
}

// oneTerminate checks the cluster was terminated exactly once, by the
// last call.
func (s *setup) oneTerminate(t *testing.T) {
	t.Helper()
	ts := s.emr.callsOf("TerminateJobFlows")
	if len(ts) != 1 {
		t.Fatalf("TerminateJobFlows called %d times (calls %v), want exactly once", len(ts), s.emr.ops())
	}
	if ids := ts[0].Body["JobFlowIds"]; !reflect.DeepEqual(ids, []any{clusterID}) {
		t.Errorf("TerminateJobFlows JobFlowIds %v, want [%s]", ids, clusterID)
	}
	if ops := s.emr.ops(); ops[len(ops)-1] != "TerminateJobFlows" {
		t.Errorf("calls %v: terminate is not the last", ops)
	}
}

// TestSubmitHappyPath: inputs staged, cluster requested as the golden
// file says, ingest and training steps added and waited for, the model
// fetched, installed and served as the original, the cluster terminated.
func TestSubmitHappyPath(t *testing.T) {
	for _, ingest := range []bool{true, false} {
		name := map[bool]string{true: "ingest-on-cluster", false: "upload-parquet"}[ingest]
		t.Run(name, func(t *testing.T) {
			s := newSetup(t, ingest)
			s.writeModel(t)
			dir, err := s.runner.Submit(t.Context(), s.job)
			if err != nil {
				t.Fatal(err)
			}
			if dir != s.job.ModelDir {
				t.Errorf("model location %s, want %s", dir, s.job.ModelDir)
			}
			s.oneTerminate(t)
			// PENDING, RUNNING, COMPLETED for the first step; RUNNING,
			// RUNNING, COMPLETED for the training step after an ingest step.
			wantOps := []string{"RunJobFlow", "AddJobFlowSteps"}
			for range map[bool]int{true: 6, false: 3}[ingest] {
				wantOps = append(wantOps, "DescribeStep")
			}
			if got := s.emr.ops(); !slices.Equal(got, append(wantOps, "TerminateJobFlows")) {
				t.Errorf("calls %v, want %v then TerminateJobFlows", got, wantOps)
			}
			if !s.scriptStaged.Load() {
				t.Error("the PySpark job was not in the bucket when the steps were added")
			}
			checkSteps(t, s, ingest)
			checkBucket(t, s, ingest)
			if ingest {
				checkGolden(t, s.emr.callsOf("RunJobFlow")[0].Raw, "runjobflow_spot_fleet.json")
			}
			checkServed(t, s)
		})
	}
}

// checkSteps checks the AddJobFlowSteps request: the ingest step's command
// and the training step's spark-submit with the job's arguments.
func checkSteps(t *testing.T, s *setup, ingest bool) {
	t.Helper()
	var req struct {
		JobFlowId string
		Steps     []struct {
			Name            string
			ActionOnFailure string
			HadoopJarStep   struct {
				Jar  string
				Args []string
			}
		}
	}
	if err := json.Unmarshal(s.emr.callsOf("AddJobFlowSteps")[0].Raw, &req); err != nil {
		t.Fatal(err)
	}
	if req.JobFlowId != clusterID {
		t.Errorf("AddJobFlowSteps JobFlowId %q", req.JobFlowId)
	}
	data := "s3://lab-bucket/parquet/" + filepath.Base(s.job.Variant.Data)
	var want [][]string
	if ingest {
		data = "s3://lab-bucket/parquet/bts2008.parquet"
		want = append(want, []string{"bash", "-c", ingestScript, "datalab-ingest", "bts2008", "s3://lab-bucket/raw", "s3://lab-bucket/parquet", "bts2008", "distances"})
	}
	want = append(want, append([]string{"spark-submit", "--deploy-mode", "cluster", "s3://lab-bucket/scripts/train_flights.py"},
		s.job.Args(data, "s3://lab-bucket/"+modelKey)...))
	if len(req.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(req.Steps), len(want))
	}
	for i, st := range req.Steps {
		if st.ActionOnFailure != "CANCEL_AND_WAIT" || st.HadoopJarStep.Jar != "command-runner.jar" || st.Name == "" {
			t.Errorf("step %d: %q, ActionOnFailure %s, Jar %s", i, st.Name, st.ActionOnFailure, st.HadoopJarStep.Jar)
		}
		if !slices.Equal(st.HadoopJarStep.Args, want[i]) {
			t.Errorf("step %d args\n %q\nwant\n %q", i, st.HadoopJarStep.Args, want[i])
		}
	}
	train := req.Steps[len(req.Steps)-1].HadoopJarStep.Args
	if i := slices.Index(train, "--max-bins"); i < 0 || train[i+1] != "4657" {
		t.Errorf("training step does not pass the variant's maxBins 4657: %q", train)
	}
}

// checkBucket checks what the runner staged, in the seed's layout.
func checkBucket(t *testing.T, s *setup, ingest bool) {
	t.Helper()
	objs := s.s3.Objects(t)
	want := map[string][]byte{"scripts/train_flights.py": sparkjob.JobSource()}
	if ingest {
		want["scripts/bootstrap-datalab.sh"] = bootstrapScript
		want["bin/datalab"] = s.binary
		want["raw/bts2008/flights_2008_4_1.csv"] = []byte("2008,4,1,2,...\n")
		want["raw/bts2008/flights_2008_5_1.csv"] = []byte("2008,5,1,4,...\n")
		want["raw/distances/origin_dest_distances.jsonl"] = []byte(`{"Origin":"ATL","Dest":"SFO","Distance":2139.0}` + "\n")
	} else {
		want["parquet/bts2008.parquet"] = []byte("PAR1 ingested locally PAR1")
	}
	for k, v := range want {
		if !bytes.Equal(objs[k], v) {
			t.Errorf("s3://lab-bucket/%s: %d bytes, want %d", k, len(objs[k]), len(v))
		}
	}
	for k := range objs {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, modelKey) {
			t.Errorf("unexpected object %s", k)
		}
	}
}

// checkServed checks the installed model is what "Spark" wrote, file for
// file (EMRFS markers left out), and that the Go server loads it.
// (sparkjob's tests show an installed Spark-written model scores exactly as
// its original directory.)
func checkServed(t *testing.T, s *setup) {
	t.Helper()
	for rel, want := range s.written {
		got, err := os.ReadFile(filepath.Join(s.job.ModelDir, filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("installed %s: %d bytes (%v), Spark wrote %d", rel, len(got), err, len(want))
		}
	}
	n := 0
	filepath.WalkDir(s.job.ModelDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if n != len(s.written) || n == 0 {
		t.Errorf("installed %d files, Spark wrote %d (EMRFS directory markers are not files)", n, len(s.written))
	}
	p, err := sparkml.LoadPipeline(s.job.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.FeatureNames(), s.job.Variant.Features) || len(p.Model.Trees) != 20 {
		t.Errorf("served model: features %v, %d trees", p.FeatureNames(), len(p.Model.Trees))
	}
	entries, _ := os.ReadDir(filepath.Dir(s.job.ModelDir))
	if len(entries) != 1 {
		t.Errorf("models directory holds %d entries, want only the variant (staging left behind?)", len(entries))
	}
}

// checkGolden compares a request body with testdata/name structurally
// (JSON values, not bytes); -update rewrites the file.
func checkGolden(t *testing.T, body []byte, name string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(got, "", "  ")
	if *update {
		if err := os.WriteFile(path, append(pretty, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request body differs from %s (go test -update rewrites it):\n%s", path, pretty)
	}
}

// TestSpotFleetRequest decodes the RunJobFlow body into the API's
// documented field names and checks the spot fleet with on-demand
// fallback, the release, Spark, the bootstrap action, logs, roles, the
// idle backstop, and that nothing opens the cluster to the network.
func TestSpotFleetRequest(t *testing.T) {
	s := newSetup(t, true)
	s.writeModel(t)
	if _, err := s.runner.Submit(t.Context(), s.job); err != nil {
		t.Fatal(err)
	}
	var req struct {
		Name, ReleaseLabel, LogUri, ServiceRole, JobFlowRole string
		VisibleToAllUsers                                    bool
		Applications                                         []struct{ Name string }
		BootstrapActions                                     []struct {
			Name                  string
			ScriptBootstrapAction struct {
				Path string
				Args []string
			}
		}
		AutoTerminationPolicy struct{ IdleTimeout int64 }
		Tags                  []struct{ Key, Value string }
		Instances             struct {
			KeepJobFlowAliveWhenNoSteps, TerminationProtected bool
			Ec2SubnetIds                                      []string
			InstanceFleets                                    []struct {
				Name, InstanceFleetType                    string
				TargetSpotCapacity, TargetOnDemandCapacity int
				InstanceTypeConfigs                        []struct {
					InstanceType     string
					WeightedCapacity int
				}
				LaunchSpecifications struct {
					SpotSpecification struct {
						TimeoutDurationMinutes            int
						TimeoutAction, AllocationStrategy string
					}
					OnDemandSpecification struct{ AllocationStrategy string }
				}
			}
		}
	}
	if err := json.Unmarshal(s.emr.callsOf("RunJobFlow")[0].Raw, &req); err != nil {
		t.Fatal(err)
	}
	if req.ReleaseLabel != DefaultReleaseLabel || len(req.Applications) != 1 || req.Applications[0].Name != "Spark" {
		t.Errorf("release %s, applications %+v", req.ReleaseLabel, req.Applications)
	}
	if req.LogUri != "s3://lab-bucket/logs/" || !req.VisibleToAllUsers || req.ServiceRole != DefaultServiceRole || req.JobFlowRole != DefaultInstanceProfile {
		t.Errorf("LogUri %s, VisibleToAllUsers %v, roles %s / %s", req.LogUri, req.VisibleToAllUsers, req.ServiceRole, req.JobFlowRole)
	}
	if len(req.BootstrapActions) != 1 || req.BootstrapActions[0].ScriptBootstrapAction.Path != "s3://lab-bucket/scripts/bootstrap-datalab.sh" ||
		!slices.Equal(req.BootstrapActions[0].ScriptBootstrapAction.Args, []string{"s3://lab-bucket/bin/datalab"}) {
		t.Errorf("bootstrap actions %+v", req.BootstrapActions)
	}
	if req.AutoTerminationPolicy.IdleTimeout != 3600 {
		t.Errorf("idle timeout %d s, want 3600", req.AutoTerminationPolicy.IdleTimeout)
	}
	in := req.Instances
	if !in.KeepJobFlowAliveWhenNoSteps || in.TerminationProtected || !slices.Equal(in.Ec2SubnetIds, []string{"subnet-0a1b2c3d"}) {
		t.Errorf("instances %+v", in)
	}
	if len(in.InstanceFleets) != 2 {
		t.Fatalf("%d fleets, want master and core", len(in.InstanceFleets))
	}
	for i, want := range []struct {
		kind string
		spot int
	}{{"MASTER", 1}, {"CORE", DefaultCoreNodes}} {
		f := in.InstanceFleets[i]
		sp := f.LaunchSpecifications.SpotSpecification
		if f.InstanceFleetType != want.kind || f.TargetSpotCapacity != want.spot || f.TargetOnDemandCapacity != 0 {
			t.Errorf("fleet %d: %s spot %d on-demand %d, want %s spot %d", i, f.InstanceFleetType, f.TargetSpotCapacity, f.TargetOnDemandCapacity, want.kind, want.spot)
		}
		if sp.TimeoutAction != "SWITCH_TO_ON_DEMAND" || sp.TimeoutDurationMinutes != 10 || sp.AllocationStrategy != "price-capacity-optimized" ||
			f.LaunchSpecifications.OnDemandSpecification.AllocationStrategy != "lowest-price" {
			t.Errorf("fleet %s launch specifications %+v", f.InstanceFleetType, f.LaunchSpecifications)
		}
		if len(f.InstanceTypeConfigs) != len(DefaultInstanceTypes) || f.InstanceTypeConfigs[0].WeightedCapacity != 1 {
			t.Errorf("fleet %s instance types %+v", f.InstanceFleetType, f.InstanceTypeConfigs)
		}
	}
	assertNothingOpen(t, s.emr)
}

// assertNothingOpen walks every request body: no security group, no SSH
// key, and no 0.0.0.0/0 (or ::/0) anywhere.
func assertNothingOpen(t *testing.T, f *fakeEMR) {
	t.Helper()
	f.mu.Lock()
	calls := slices.Clone(f.calls)
	f.mu.Unlock()
	var walk func(op, at string, v any)
	walk = func(op, at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if strings.Contains(k, "SecurityGroup") || k == "Ec2KeyName" {
					t.Errorf("%s sets %s.%s = %v: the runner opens nothing and needs no key", op, at, k, x)
				}
				walk(op, at+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(op, at+"[]", x)
			}
		case string:
			if strings.Contains(v, "0.0.0.0/0") || strings.Contains(v, "::/0") {
				t.Errorf("%s: %s = %q opens to the internet", op, at, v)
			}
		}
	}
	for _, c := range calls {
		walk(c.Op, c.Op, c.Body)
	}
}

// TestTerminateOnEveryErrorPath: once the cluster exists, every way Submit
// can fail ends with exactly one TerminateJobFlows for it, and the
// previous model stays.
func TestTerminateOnEveryErrorPath(t *testing.T) {
	for _, c := range []struct {
		name string
		// arrange changes the fakes; cancel cancels Submit's context.
		arrange func(t *testing.T, s *setup, cancel context.CancelFunc)
		// ownModel: arrange writes (or withholds) the model itself.
		ownModel bool
		want     string
		is       error
	}{
		{name: "AddJobFlowSteps fails", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {
			s.emr.fail["AddJobFlowSteps"] = "InternalServerError"
		}, want: "add steps to EMR cluster " + clusterID},
		{name: "ingest step fails", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {
			s.emr.steps[0] = []string{"RUNNING", "FAILED"}
			s.emr.failure = map[string]any{"Reason": "Unknown Error.", "Message": "datalab ingest: exit status 2",
				"LogFile": "s3://lab-bucket/logs/" + clusterID + "/steps/s-STEP0/stderr.gz"}
		}, want: `EMR step "datalab ingest bts2008" (s-STEP0) on cluster ` + clusterID + ` ended FAILED: Unknown Error.: datalab ingest: exit status 2; log: s3://lab-bucket/logs/` + clusterID + `/steps/s-STEP0/stderr.gz; cluster WAITING (Waiting after step failed)`},
		{name: "training step FAILED", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {
			s.emr.steps[1] = []string{"RUNNING", "FAILED"}
		}, want: `"datalab train flights bts (Spark)" (s-STEP1) on cluster ` + clusterID + ` ended FAILED`},
		{name: "training step cancelled", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {
			s.emr.steps[1] = []string{"CANCELLED"}
		}, want: "ended CANCELLED"},
		{name: "DescribeStep errors", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {
			s.emr.fail["DescribeStep"] = "ThrottlingException"
		}, want: "DescribeStep"},
		{name: "cancelled while waiting", arrange: func(t *testing.T, s *setup, cancel context.CancelFunc) {
			s.emr.steps[0] = []string{"RUNNING"}
			s.emr.onDescribeStep = func(n int) {
				if n == 3 {
					cancel()
				}
			}
		}, is: context.Canceled},
		{name: "cancelled between polls", arrange: func(t *testing.T, s *setup, cancel context.CancelFunc) {
			s.emr.steps[0] = []string{"RUNNING"}
			s.runner.Poll = Backoff{Initial: time.Minute, Max: time.Minute}
			s.emr.onDescribeStep = func(n int) {
				if n == 1 {
					time.AfterFunc(50*time.Millisecond, cancel)
				}
			}
		}, is: context.Canceled, want: "waiting for EMR step"},
		{name: "model download fails", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {
			s.writeModel(t)
			s.s3.Corrupt(t, modelKey+"/spark_random_forest_classifier.flight_delays.5.0.bin/metadata/part-00000", []byte(`{"class":"damaged"}`))
		}, ownModel: true, want: "fetch the model from s3://lab-bucket/" + modelKey},
		{name: "no model written", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {}, ownModel: true, want: "the training step wrote no model"},
		{name: "model does not load", arrange: func(t *testing.T, s *setup, _ context.CancelFunc) {
			s.writeModel(t)
			s.s3.Delete(t, modelKey+"/spark_random_forest_classifier.flight_delays.5.0.bin/metadata/part-00000")
		}, ownModel: true, want: "does not load"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSetup(t, true)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if !c.ownModel {
				s.writeModel(t)
			}
			c.arrange(t, s, cancel)
			testtree.WriteFile(t, filepath.Join(s.job.ModelDir, "previous"), "keep me")
			_, err := s.runner.Submit(ctx, s.job)
			t.Logf("Submit: %v", err)
			switch {
			case err == nil:
				t.Fatal("Submit succeeded")
			case c.is != nil && !errors.Is(err, c.is):
				t.Errorf("error %v, want %v", err, c.is)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error\n %v\nwant it to contain\n %s", err, c.want)
			}
			s.oneTerminate(t)
			if b, err := os.ReadFile(filepath.Join(s.job.ModelDir, "previous")); err != nil || string(b) != "keep me" {
				t.Errorf("previous model gone: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(s.job.ModelDir)); len(entries) != 1 {
				t.Errorf("models directory holds %d entries, want only the variant", len(entries))
			}
		})
	}
}

// TestNoClusterNoTerminate: failures before a cluster exists make no
// cluster calls beyond the failed one.
func TestNoClusterNoTerminate(t *testing.T) {
	t.Run("RunJobFlow fails", func(t *testing.T) {
		s := newSetup(t, true)
		s.emr.fail["RunJobFlow"] = "ValidationException"
		_, err := s.runner.Submit(t.Context(), s.job)
		if err == nil || !strings.Contains(err.Error(), "start EMR cluster") || !strings.Contains(err.Error(), "ValidationException") {
			t.Fatalf("error %v", err)
		}
		if ops := s.emr.ops(); !slices.Equal(ops, []string{"RunJobFlow"}) {
			t.Errorf("calls %v, want only the failed RunJobFlow", ops)
		}
	})
	t.Run("staging fails", func(t *testing.T) {
		s := newSetup(t, true)
		s.runner.Config.Bucket.Name = "no-such-bucket"
		if _, err := s.runner.Submit(t.Context(), s.job); err == nil || !strings.Contains(err.Error(), "stage s3://no-such-bucket/") {
			t.Fatalf("error %v", err)
		}
		if ops := s.emr.ops(); len(ops) != 0 {
			t.Errorf("calls %v, want none", ops)
		}
	})
	t.Run("missing raw data", func(t *testing.T) {
		s := newSetup(t, true)
		s.runner.Ingest.DataDir = t.TempDir()
		if _, err := s.runner.Submit(t.Context(), s.job); err == nil || !strings.Contains(err.Error(), "datalab data pull bts2008") {
			t.Fatalf("error %v", err)
		}
		if ops := s.emr.ops(); len(ops) != 0 {
			t.Errorf("calls %v, want none", ops)
		}
	})
}

// TestTerminateFailureIsReported: a cluster that could not be terminated
// is an error that says how to do it by hand, even after a success.
func TestTerminateFailureIsReported(t *testing.T) {
	s := newSetup(t, true)
	s.writeModel(t)
	s.emr.fail["TerminateJobFlows"] = "InternalServerError"
	_, err := s.runner.Submit(t.Context(), s.job)
	if err == nil || !strings.Contains(err.Error(), "aws emr terminate-clusters --cluster-ids "+clusterID) {
		t.Fatalf("error %v", err)
	}
	s.oneTerminate(t)
}
