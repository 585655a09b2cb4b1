package sparkjob

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/flights/flightmodel"
	"github.com/datalabhq/datalab/internal/testmirror"
	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/pipeline/ingest"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// smallTable is 60 synthetic flights in the ingested schema, enough for a
// 3-tree forest with every stage of the seed's pipeline.
func smallTable() *flightfeat.Table {
	carriers := []string{"WN", "MQ", "FL", "HA"}
	airports := []string{"ATL", "ORD", "SFO", "HNL", "OGG"}
	var rows []ingest.FlightRow
	for i := range 60 {
		c := carriers[i%len(carriers)]
		dep := float64((i*7)%50 - 10)
		dist := float64(100 + (i*37)%2000)
		rows = append(rows, ingest.FlightRow{Carrier: &c, Origin: airports[i%5], Dest: airports[(i*3+1)%5],
			DepDelay: &dep, Distance: &dist, ArrDelay: dep + float64((i*11)%40-20),
			DayOfMonth: int32(1 + i%28), DayOfWeek: int32(1 + i%7), DayOfYear: int32(1 + i)})
	}
	return flightfeat.FromRows(rows)
}

// testVariant is the seed-faithful variant at test size.
var testVariant = flightmodel.VariantConfig{Name: "bts", Data: "flights.parquet", Features: flightfeat.SeedFeatures,
	Categorical: true, Forest: flightmodel.ForestConfig{NumTrees: 3, MaxBins: 64}}

// goModel trains testVariant in Go and saves it as a PipelineModel
// directory: the layout the PySpark job writes.
func goModel(t *testing.T) (string, *flightmodel.Trained, *flightfeat.Table) {
	t.Helper()
	tb := smallTable()
	split, err := flightfeat.RandomSplit(tb.Len(), 0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := flightmodel.Train(t.Context(), tb, split, testVariant)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "go-model")
	if err := flightmodel.Save(dir, tr); err != nil {
		t.Fatal(err)
	}
	return dir, tr, tb
}

// fakeSparkSubmit is put first on PATH as spark-submit. It records its
// argv (one argument a line) and a copy of the job file it was given, then
// behaves as FAKE_MODE says: "fail" exits 3, "hang" sleeps until killed,
// otherwise it copies FAKE_MODEL to the --output directory and prints a
// metrics line as the job does.
const fakeSparkSubmit = `#!/bin/sh
printf '%s\n' "$@" > "$FAKE_ARGV"
out=
prev=
for a in "$@"; do
  case "$a" in *train_flights.py) cp "$a" "$FAKE_JOB_COPY" ;; esac
  if [ "$prev" = "--output" ]; then out="$a"; fi
  prev="$a"
done
case "$FAKE_MODE" in
  fail) echo "Py4JJavaError: maxBins too small" >&2; exit 3 ;;
  hang) exec sleep 60 ;;
esac
cp -R "$FAKE_MODEL" "$out" || exit 1
echo 'INFO SparkContext: Running Spark version 3.5.3'
echo '{"accuracy": 0.61, "f1": 0.55, "output": "'"$out"'", "test_rows": 12, "train_rows": 48, "variant": "bts"}'
`

type fake struct {
	dir, argv, jobCopy string
}

// installFake puts the fake spark-submit first on PATH and points it at
// model (the directory it "trains").
func installFake(t *testing.T, mode, model string) fake {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "spark-submit"), []byte(fakeSparkSubmit), 0o755); err != nil {
		t.Fatal(err)
	}
	f := fake{dir: dir, argv: filepath.Join(dir, "argv"), jobCopy: filepath.Join(dir, "job.py")}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("SPARK_HOME", "")
	t.Setenv("FAKE_ARGV", f.argv)
	t.Setenv("FAKE_JOB_COPY", f.jobCopy)
	t.Setenv("FAKE_MODE", mode)
	t.Setenv("FAKE_MODEL", model)
	return f
}

func (f fake) recordedArgv(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.argv)
	if err != nil {
		t.Fatalf("spark-submit was not run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// newJob returns a job for variant v whose data file exists and whose
// model goes to <tmp>/models/<variant>.
func newJob(t *testing.T, v flightmodel.VariantConfig) Job {
	t.Helper()
	dir := t.TempDir()
	v.Data = filepath.Join(dir, "flights.parquet")
	if err := os.WriteFile(v.Data, []byte("PAR1 placeholder: the fake spark-submit does not read it"), 0o644); err != nil {
		t.Fatal(err)
	}
	return NewJob(flightmodel.Config{TestFraction: 0.2, SplitSeed: 2008}, v, filepath.Join(dir, "models"))
}

// leftovers lists what is in the models directory besides the variants.
func leftovers(t *testing.T, job Job) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(job.ModelDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() != job.Variant.Name {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestLocalRunnerServesModel runs the local runner against the fake
// spark-submit, which "trains" by copying a Go-written PipelineModel: the
// runner must call spark-submit with the job and the Go side's arguments,
// install the model byte for byte, and the Go server must load and score it
// exactly as the model it was copied from.
func TestLocalRunnerServesModel(t *testing.T) {
	src, trained, tb := goModel(t)
	f := installFake(t, "", src)
	job := newJob(t, testVariant)
	var stdout bytes.Buffer
	dir, err := (&LocalRunner{Stdout: &stdout}).Submit(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if dir != job.ModelDir {
		t.Errorf("model location %s, want %s", dir, job.ModelDir)
	}

	argv := f.recordedArgv(t)
	if len(argv) < 3 {
		t.Fatalf("argv %q", argv)
	}
	jobFile, out := argv[2], argv[len(argv)-1]
	want := append([]string{"--master", "local[*]", jobFile}, job.Args(job.Variant.Data, out)...)
	if !slices.Equal(argv, want) {
		t.Errorf("spark-submit argv\n %q\nwant\n %q", argv, want)
	}
	if filepath.Base(jobFile) != JobFileName || filepath.Base(out) != "model" || !strings.HasPrefix(filepath.Base(filepath.Dir(out)), ".bts.spark-") ||
		filepath.Dir(filepath.Dir(out)) != filepath.Dir(job.ModelDir) {
		t.Errorf("job file %s, output %s: want a temporary %s and a staging directory beside %s", jobFile, out, JobFileName, job.ModelDir)
	}
	if got, _ := os.ReadFile(f.jobCopy); !bytes.Equal(got, JobSource()) {
		t.Errorf("spark-submit got a job file of %d bytes, not the embedded job", len(got))
	}
	if !strings.Contains(stdout.String(), "Running Spark version") {
		t.Errorf("spark-submit's output not passed on: %q", stdout.String())
	}
	if _, err := os.Stat(jobFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary job file %s left behind (%v)", jobFile, err)
	}
	if l := leftovers(t, job); len(l) > 0 {
		t.Errorf("left in the models directory: %v", l)
	}
	if got, want := testtree.Read(t, job.ModelDir), testtree.Read(t, src); !reflect.DeepEqual(got, want) {
		t.Errorf("installed model differs from what spark-submit wrote (%d vs %d files)", len(got), len(want))
	}

	served, err := sparkml.LoadPipeline(job.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tb.Len() {
		x, err := served.Transform(tb.RawRow(i)) // a raw row with Route, as the web app's flightdelay.Row has
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		got, err := served.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		wantX, _ := trained.Pipeline.Transform(tb.RawRow(i))
		wantP, _ := trained.Pipeline.Predict(wantX)
		if !slices.Equal(x, wantX) || got.Class != wantP.Class || !slices.Equal(got.Probability, wantP.Probability) {
			t.Fatalf("row %d: served %v → %+v, trained %v → %+v", i, x, got, wantX, wantP)
		}
	}
}

// TestLocalRunnerInstallsSparkWrittenModel feeds the runner a model written
// by real Spark 3.5.3 (the course's flight model in the data mirror): it is
// installed unchanged and scores every stored request exactly as the
// original directory does.
func TestLocalRunnerInstallsSparkWrittenModel(t *testing.T) {
	fixture := testmirror.Path(t, "spark-models", "flight-delay-spark-3.5.3")
	installFake(t, "", fixture)
	v := testVariant
	v.Forest = flightmodel.ForestConfig{MaxBins: 4657}
	job := newJob(t, v)
	if _, err := (&LocalRunner{Stdout: new(bytes.Buffer)}).Submit(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	orig, err := sparkml.LoadPipeline(fixture)
	if err != nil {
		t.Fatal(err)
	}
	served, err := sparkml.LoadPipeline(job.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(filepath.Join(fixture, "stored_predictions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	n := 0
	for sc.Scan() {
		row, err := sparkml.DecodeRow(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		xo, err := orig.Transform(row)
		if err != nil {
			t.Fatal(err)
		}
		xs, err := served.Transform(row)
		if err != nil {
			t.Fatal(err)
		}
		po, _ := orig.Predict(xo)
		ps, _ := served.Predict(xs)
		if !slices.Equal(xo, xs) || !slices.Equal(po.Probability, ps.Probability) {
			t.Fatalf("line %d: installed model scores %v, the original %v", n+1, ps.Probability, po.Probability)
		}
		n++
	}
	if n != 139 {
		t.Errorf("scored %d stored requests, want 139", n)
	}
}

// TestLocalRunnerFailures: whatever goes wrong, the previous model stays
// and nothing is left behind.
func TestLocalRunnerFailures(t *testing.T) {
	src, _, _ := goModel(t)
	notAModel := t.TempDir()
	if err := os.WriteFile(filepath.Join(notAModel, "part-00000"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, mode, model string
		variant           func(*flightmodel.VariantConfig)
		want              string
	}{
		{name: "spark-submit fails", mode: "fail", model: src, want: "exit status 3"},
		{name: "output does not load", model: notAModel, want: "does not load"},
		{name: "other features", model: src, variant: func(v *flightmodel.VariantConfig) {
			v.Features = slices.Clone(flightfeat.SeedFeatures)
			v.Features[0], v.Features[1] = v.Features[1], v.Features[0]
		}, want: "has features"},
	} {
		t.Run(c.name, func(t *testing.T) {
			installFake(t, c.mode, c.model)
			v := testVariant
			if c.variant != nil {
				c.variant(&v)
			}
			job := newJob(t, v)
			if err := os.MkdirAll(job.ModelDir, 0o755); err != nil {
				t.Fatal(err)
			}
			old := filepath.Join(job.ModelDir, "previous-model")
			if err := os.WriteFile(old, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := (&LocalRunner{Stdout: new(bytes.Buffer), Stderr: new(bytes.Buffer)}).Submit(t.Context(), job)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if b, err := os.ReadFile(old); err != nil || string(b) != "keep me" {
				t.Errorf("previous model gone: %v", err)
			}
			if l := leftovers(t, job); len(l) > 0 {
				t.Errorf("left in the models directory: %v", l)
			}
		})
	}
}

// TestLocalRunnerCancel: Ctrl-C stops spark-submit promptly.
func TestLocalRunnerCancel(t *testing.T) {
	f := installFake(t, "hang", "")
	job := newJob(t, testVariant)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := (&LocalRunner{Stdout: new(bytes.Buffer), StopGrace: 2 * time.Second}).Submit(ctx, job)
		done <- err
	}()
	testwait.Until(t, 10*time.Second, 20*time.Millisecond, "spark-submit to start", func() bool {
		_, err := os.Stat(f.argv)
		return err == nil
	})
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stopping took %v", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Submit did not return after cancel")
	}
	if l := leftovers(t, job); len(l) > 0 {
		t.Errorf("left in the models directory: %v", l)
	}
}

func TestFindSparkSubmit(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv("SPARK_HOME", "")
	if _, err := FindSparkSubmit(""); err == nil || !strings.Contains(err.Error(), "SPARK_HOME") {
		t.Errorf("no Spark: error %v, want advice naming SPARK_HOME", err)
	}
	home := t.TempDir()
	bin := filepath.Join(home, "bin", "spark-submit")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SPARK_HOME", home)
	if got, err := FindSparkSubmit(""); err != nil || got != bin {
		t.Errorf("SPARK_HOME: %s, %v; want %s", got, err, bin)
	}
	if got, err := FindSparkSubmit(bin); err != nil || got != bin {
		t.Errorf("explicit: %s, %v", got, err)
	}
}

func TestJobValidate(t *testing.T) {
	cfg := flightsConfig(t)
	for _, v := range cfg.Variants {
		if err := NewJob(cfg, v, "m").Validate(); err != nil {
			t.Errorf("variant %s: %v", v.Name, err)
		}
	}
	v := cfg.Variants[0]
	v.Name = ""
	if err := NewJob(cfg, v, "m").Validate(); err == nil {
		t.Error("a variant without a name validated")
	}
	params, _ := ParseJobParams(JobSource())
	args := NewJob(cfg, cfg.Variants[0], "m").Args("d", "o")
	if err := checkArgs(params, append(args, "--max-memory-mb", "256")); err == nil || !strings.Contains(err.Error(), "does not declare --max-memory-mb") {
		t.Errorf("unknown flag: %v", err)
	}
	if err := checkArgs(params, args[2:]); err != nil {
		t.Errorf("--test-fraction has a default, leaving it out: %v", err)
	}
	noData := slices.Clone(args)
	i := slices.Index(noData, "--data")
	noData = slices.Delete(noData, i, i+2)
	if err := checkArgs(params, noData); err == nil || !strings.Contains(err.Error(), "requires --data") {
		t.Errorf("missing --data: %v", err)
	}
	bad := slices.Clone(args)
	bad[slices.Index(bad, "--num-trees")+1] = "many"
	if err := checkArgs(params, bad); err == nil {
		t.Error("--num-trees many accepted")
	}
}
