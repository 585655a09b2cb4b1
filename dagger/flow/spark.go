package flow

import (
	"context"

	"dagger.io/dagger"
)

// Spark training in the apache/spark container (issue 8 item 2,
// docs/spark-training.md).
const (
	// SparkModelsPath is where `datalab train flights --engine spark` puts
	// its models (one PipelineModel directory per variant), relative to /src.
	SparkModelsPath = "build/models/flights-spark"

	// SparkUser owns /src in the Spark container: SparkImage runs its
	// commands as spark (uid 185), which writes the models, and their
	// staging directories, under /src/build.
	SparkUser = "spark"

	// SparkDriverMemory is the driver's heap, which in local mode is where
	// the executors run too: Spark's default 1 GB is small for flights3m.
	SparkDriverMemory = "6g"

	// staticCLIPath is where the static CLI is built in the Go container.
	staticCLIPath = "/out/datalab"
)

// staticCLI builds a datalab that runs in SparkImage. The CLI the other
// functions build links against bookworm's glibc (it needs GLIBC_2.34);
// SparkImage is Ubuntu 20.04 with glibc 2.31, so this one is built without
// cgo, and -trimpath keeps the build machine's paths out of it.
var staticCLI = []string{"go", "build", "-trimpath", "-o", staticCLIPath, "./cmd/datalab"}

// SparkTrain trains flight-model variants with Spark in SparkImage —
// `datalab train flights --engine spark --runner local`, spark-submit
// --master local[*] — on the Parquet files of the ingest stages, and returns
// build/models/flights-spark: a PipelineModel directory per variant. No
// variants trains params.flights.serve_variant.
//
// The ingest stages run as Ingest runs them (in the Go container, all of
// them: which variant reads which data set is datalab.yaml's business, and
// the cached result is the one `ingest` returns); the Spark container gets a
// static CLI at CLIPath, a copy of the repository at /src with the ingested
// build/ inside, all owned by SparkUser. Copied rather than mounted, so the
// models are in the container's own file system when they are read out.
func (l *Lab) SparkTrain(ctx context.Context, variants []string) (*dagger.Directory, error) {
	build, err := l.Ingest(ctx)
	if err != nil {
		return nil, err
	}
	static := l.Go().WithEnvVariable("CGO_ENABLED", "0").WithExec(staticCLI).File(staticCLIPath)
	ctr := l.client.Container().From(SparkImage).
		WithFile(CLIPath, static, dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithDirectory(SrcPath, l.src, dagger.ContainerWithDirectoryOpts{Owner: SparkUser}).
		WithDirectory(SrcPath+"/build", build, dagger.ContainerWithDirectoryOpts{Owner: SparkUser}).
		WithWorkdir(SrcPath)
	ctr, err = run(ctx, "spark-train", ctr, sparkTrainCommand(variants))
	if err != nil {
		return nil, err
	}
	return output(ctx, "spark-train", ctr, SparkModelsPath)
}

// sparkTrainCommand is the command SparkTrain runs for variants. --models
// is the CLI's default for the Spark engine, given so that the directory
// read out is the one written even if that default changes.
func sparkTrainCommand(variants []string) []string {
	args := []string{"datalab", "train", "flights", "--engine", "spark", "--runner", "local",
		"--models", SparkModelsPath, "--spark-submit-arg=--driver-memory=" + SparkDriverMemory}
	for _, v := range variants {
		args = append(args, "--variant", v)
	}
	return args
}
