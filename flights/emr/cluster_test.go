package emr

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/datalabhq/datalab/internal/testtree"
)

func TestParseBucket(t *testing.T) {
	for in, want := range map[string]Bucket{
		"s3://lab":              {Name: "lab"},
		"s3://lab/":             {Name: "lab"},
		"s3://lab/team/flights": {Name: "lab", Prefix: "team/flights"},
	} {
		got, err := ParseBucket(in)
		if err != nil || got != want {
			t.Errorf("ParseBucket(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"lab", "gs://lab", "s3://", "s3:///x"} {
		if _, err := ParseBucket(bad); err == nil {
			t.Errorf("ParseBucket(%q) accepted", bad)
		}
	}
	b := Bucket{Name: "lab", Prefix: "team"}
	if got := b.URI(ModelsPrefix, "flights", "bts"); got != "s3://lab/team/models/flights/bts" {
		t.Errorf("URI %s", got)
	}
	if got := (Bucket{Name: "lab"}).Key(ScriptsPrefix, "x.py"); got != "scripts/x.py" {
		t.Errorf("Key %s", got)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Bucket: Bucket{Name: "lab"}}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Bucket = Bucket{} }, "--bucket"},
		{func(c *Config) { c.ReleaseLabel = "7.13.0" }, "emr-X.Y.Z"},
		{func(c *Config) { c.CoreNodes = -1 }, "core nodes"},
		{func(c *Config) { c.SpotTimeout = time.Minute }, "spot timeout"},
		{func(c *Config) { c.IdleTimeout = 30 * time.Second }, "idle timeout"},
		{func(c *Config) { c.SpotAllocation = "cheapest" }, "allocation strategy"},
	} {
		bad := ok
		c.change(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

// TestOnDemandMaster: the master fleet moves its capacity to on-demand,
// the core fleet stays on spot.
func TestOnDemandMaster(t *testing.T) {
	in := Config{Bucket: Bucket{Name: "lab"}, MasterOnDemand: true, CoreNodes: 4}.WithDefaults().RunJobFlowInput(nil)
	m, c := in.Instances.InstanceFleets[0], in.Instances.InstanceFleets[1]
	if aws.ToInt32(m.TargetOnDemandCapacity) != 1 || aws.ToInt32(m.TargetSpotCapacity) != 0 {
		t.Errorf("master on-demand %d spot %d", aws.ToInt32(m.TargetOnDemandCapacity), aws.ToInt32(m.TargetSpotCapacity))
	}
	if aws.ToInt32(c.TargetSpotCapacity) != 4 || aws.ToInt32(c.TargetOnDemandCapacity) != 0 {
		t.Errorf("core spot %d on-demand %d", aws.ToInt32(c.TargetSpotCapacity), aws.ToInt32(c.TargetOnDemandCapacity))
	}
	if in.Instances.Ec2SubnetIds != nil || in.Instances.EmrManagedMasterSecurityGroup != nil || in.Instances.AdditionalMasterSecurityGroups != nil || in.Instances.Ec2KeyName != nil {
		t.Errorf("instances set network fields: %+v", in.Instances)
	}
}

// fakeAWS stands in for the AWS CLI on an EMR node: `aws s3 cp
// [--recursive] [--only-show-errors] SRC DST` with s3://lab-bucket/ mapped
// to $FAKE_S3.
const fakeAWS = `#!/bin/sh
[ "$1 $2" = "s3 cp" ] || { echo "fake aws: unsupported: $*" >&2; exit 2; }
shift 2
rec=
while [ $# -gt 2 ]; do
  case "$1" in --recursive) rec=1 ;; --only-show-errors) ;; *) echo "fake aws: option $1" >&2; exit 2 ;; esac
  shift
done
local_path() { case "$1" in s3://lab-bucket/*) echo "$FAKE_S3/${1#s3://lab-bucket/}" ;; s3://*) echo "fake aws: bucket of $1" >&2; exit 2 ;; *) echo "$1" ;; esac; }
src=$(local_path "$1") || exit 2
dst=$(local_path "$2") || exit 2
if [ -n "$rec" ]; then mkdir -p "$dst" && cp -R "$src/." "$dst"; else mkdir -p "$(dirname "$dst")" && cp "$src" "$dst"; fi
`

// fakeDatalab records its argv and the data directory it was given, and
// writes the ingest outputs (or fails with FAKE_FAIL set).
const fakeDatalab = `#!/bin/sh
printf '%s\n' "$@" > "$FAKE_RECORD/argv"
(cd "$4" && find . -type f | sort) > "$FAKE_RECORD/data-files"
[ -z "$FAKE_FAIL" ] || { echo "too many bad rows" >&2; exit 2; }
cat "$4"/bts2008/*.csv > "$6"
echo '{"line":3,"reason":"cancelled"}' > "${6%.parquet}.quarantine.jsonl"
`

// TestIngestScript runs the ingest step's command as command-runner.jar
// would, with fake aws and datalab executables: it copies exactly the raw
// directories of the data set, runs datalab ingest on them and uploads the
// Parquet file and quarantine to parquet/; a failing ingest uploads nothing
// and fails the step.
func TestIngestScript(t *testing.T) {
	for _, fail := range []bool{false, true} {
		dir := t.TempDir()
		bin, s3dir, rec := filepath.Join(dir, "bin"), filepath.Join(dir, "s3"), filepath.Join(dir, "rec")
		for path, content := range map[string]string{
			filepath.Join(bin, "aws"):                                         fakeAWS,
			filepath.Join(bin, "datalab"):                                     fakeDatalab,
			filepath.Join(s3dir, "raw/bts2008/flights_2008_4_1.csv"):          "a\n",
			filepath.Join(s3dir, "raw/bts2008/flights_2008_5_1.csv"):          "b\n",
			filepath.Join(s3dir, "raw/distances/origin_dest_distances.jsonl"): "{}\n",
			filepath.Join(s3dir, "raw/matches/international_matches.csv"):     "other set\n",
			filepath.Join(rec, ".keep"):                                       "",
		} {
			testtree.WriteFile(t, path, content)
			if filepath.Dir(path) == bin {
				os.Chmod(path, 0o755)
			}
		}
		node := filepath.Join(dir, "datalab-linux-amd64")
		testtree.WriteFile(t, node, string(elfHeader(elf.EM_X86_64)))
		cfg := Config{Bucket: Bucket{Name: "lab-bucket"}}.WithDefaults()
		p, err := makePlan(cfg, newSetup(t, true).job, &Ingest{DataDir: filepath.Join(s3dir, "raw"), Binary: node})
		if err != nil {
			t.Fatal(err)
		}
		args := p.steps[0].HadoopJarStep.Args
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "FAKE_S3="+s3dir, "FAKE_RECORD="+rec, "TMPDIR="+dir)
		if fail {
			cmd.Env = append(cmd.Env, "FAKE_FAIL=1")
		}
		out, err := cmd.CombinedOutput()
		if fail {
			if err == nil {
				t.Errorf("failing ingest: step succeeded")
			}
			if _, err := os.Stat(filepath.Join(s3dir, "parquet")); err == nil {
				t.Error("failing ingest uploaded to parquet/")
			}
			continue
		}
		if err != nil {
			t.Fatalf("ingest step: %v\n%s", err, out)
		}
		argv, _ := os.ReadFile(filepath.Join(rec, "argv"))
		got := strings.Split(strings.TrimSpace(string(argv)), "\n")
		if len(got) != 6 || !slices.Equal([]string{got[0], got[1], got[2], got[4]}, []string{"ingest", "bts2008", "--data-dir", "--out"}) ||
			got[5] != filepath.Join(filepath.Dir(got[3]), "bts2008.parquet") {
			t.Errorf("datalab argv %q", got)
		}
		files, _ := os.ReadFile(filepath.Join(rec, "data-files"))
		if want := "./bts2008/flights_2008_4_1.csv\n./bts2008/flights_2008_5_1.csv\n./distances/origin_dest_distances.jsonl\n"; string(files) != want {
			t.Errorf("datalab ingest saw\n%s\nwant\n%s", files, want)
		}
		if b, _ := os.ReadFile(filepath.Join(s3dir, "parquet/bts2008.parquet")); string(b) != "a\nb\n" {
			t.Errorf("parquet/bts2008.parquet = %q", b)
		}
		if _, err := os.Stat(filepath.Join(s3dir, "parquet/bts2008.quarantine.jsonl")); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Dir(got[3])); err == nil {
			t.Errorf("work directory %s left on the node", filepath.Dir(got[3]))
		}
	}
}

func TestBootstrapScriptParses(t *testing.T) {
	p := filepath.Join(t.TempDir(), BootstrapScriptName)
	if err := os.WriteFile(p, bootstrapScript, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", p).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	if !strings.Contains(string(bootstrapScript), "set -euo pipefail") {
		t.Error("the bootstrap script does not stop at the first failure")
	}
}

// TestCheckNodeBinary: the ingest step's binary must run on the nodes;
// a wrong one fails before any cluster exists.
func TestCheckNodeBinary(t *testing.T) {
	dir := t.TempDir()
	amd, arm, script := filepath.Join(dir, "amd64"), filepath.Join(dir, "arm64"), filepath.Join(dir, "script")
	testtree.WriteFile(t, amd, string(elfHeader(elf.EM_X86_64)))
	testtree.WriteFile(t, arm, string(elfHeader(elf.EM_AARCH64)))
	testtree.WriteFile(t, script, "#!/bin/sh\n")
	graviton := []string{"m6g.xlarge", "m7gd.xlarge", "c7gn.2xlarge"}
	for _, c := range []struct {
		file  string
		types []string
		want  string
	}{
		{amd, DefaultInstanceTypes, ""},
		{arm, graviton, ""},
		{arm, DefaultInstanceTypes, "need linux/amd64"},
		{amd, graviton, "GOARCH=arm64"},
		{script, DefaultInstanceTypes, "not a Linux executable"},
		{"", DefaultInstanceTypes, "needs a linux/amd64 binary"},
		{amd, []string{"m5.xlarge", "m6g.xlarge"}, "mix amd64 and arm64"},
	} {
		err := checkNodeBinary(c.file, c.types)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s on %v: %v, want %q", filepath.Base(c.file), c.types, err, c.want)
		}
	}
	for it, want := range map[string]string{"m5.xlarge": "amd64", "m6i.xlarge": "amd64", "g4dn.xlarge": "amd64", "m5dn.large": "amd64",
		"m6g.xlarge": "arm64", "r6gd.2xlarge": "arm64", "c7gn.large": "arm64", "x2gd.xlarge": "arm64"} {
		if got := instanceArch(it); got != want {
			t.Errorf("instanceArch(%s) = %s, want %s", it, got, want)
		}
	}
}
