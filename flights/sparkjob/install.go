package sparkjob

import (
	"fmt"
	"slices"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/datalabhq/datalab/pipeline/sparkml"
)

// StagingDir creates an empty directory beside modelDir (same file system,
// so Install can rename it into place) for a runner to put Spark's output
// in. The caller removes it when done; Install leaves it empty on success.
func StagingDir(modelDir string) (string, error) {
	return atomicfile.TempDirBeside(modelDir, "spark")
}

// Install makes the PipelineModel directory written by Spark at dir the
// job's model: it loads it as the Go server does (sparkml.LoadPipeline),
// checks its features are the variant's, and renames it to job.ModelDir,
// replacing what was there only once the new model has loaded. On any error
// job.ModelDir is left as it was.
func Install(dir string, job Job) (*sparkml.Pipeline, error) {
	p, err := sparkml.LoadPipeline(dir)
	if err != nil {
		return nil, fmt.Errorf("the model Spark wrote does not load: %w", err)
	}
	if got := p.FeatureNames(); !slices.Equal(got, job.Variant.Features) {
		return nil, fmt.Errorf("the model Spark wrote has features %v, variant %s wants %v", got, job.Variant.Name, job.Variant.Features)
	}
	if err := atomicfile.ReplaceDir(dir, job.ModelDir); err != nil {
		return nil, fmt.Errorf("install model: %w", err)
	}
	p.Source.Dir = job.ModelDir
	return p, nil
}
