package layout

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/datalabhq/datalab/pipeline/stagerun"
)

// Script renders the pipeline's stages, in dependency order and with their
// params substituted, as a POSIX shell script: what the seed uploaded to
// its scripts bucket for the cluster, here for bootstrap steps and for
// readers of the bucket. It is deterministic (no run id, no time), so it is
// re-uploaded only when the pipeline changes. `datalab run` stays the way
// to run the pipeline; the script runs every stage unconditionally.
func Script(p *stagerun.Pipeline) []byte {
	var b bytes.Buffer
	name := "datalab.yaml"
	if p.Path != "" {
		name = filepath.Base(p.Path)
	}
	fmt.Fprintf(&b, `#!/bin/sh
# The stages of %s in dependency order, params substituted. Written by
# datalab run --remote; datalab run is the way to run them (it skips stages
# that are up to date, retries, and records runs). This script runs every
# stage once: from the repository root, with datalab on PATH.
set -eu
`, name)
	for _, s := range p.Stages {
		fmt.Fprintf(&b, "\n# stage %s\n", s.Name)
		if len(s.Deps) > 0 {
			fmt.Fprintf(&b, "#   deps: %s\n", strings.Join(s.Deps, " "))
		}
		fmt.Fprintf(&b, "#   outs: %s\n", strings.Join(s.Outs, " "))
		fmt.Fprintf(&b, "%s\n", p.Command(s))
	}
	return b.Bytes()
}

// PushScripts stores what a cluster needs to run the pipeline: the stage
// script (ScriptKey), the pipeline file (scripts/<its name>) and the
// PySpark job files found in flights/sparkjob/*.py at this moment.
// Unchanged objects are not sent again.
func (r *Remote) PushScripts(ctx context.Context, p *stagerun.Pipeline) error {
	sent, err := r.store.Put(ctx, ScriptKey, Script(p))
	if err != nil {
		return err
	}
	r.logPush("(stage commands)", ScriptKey, btoi(sent))
	if p.Path != "" {
		if err := r.pushFile(ctx, p.Path, PipelineKeyPrefix+filepath.Base(p.Path), filepath.Base(p.Path)); err != nil {
			return err
		}
	}
	jobs, err := filepath.Glob(filepath.Join(r.root, filepath.FromSlash(SparkJobDir), "*.py"))
	if err != nil {
		return err
	}
	for _, j := range jobs {
		rel := SparkJobDir + "/" + filepath.Base(j)
		key, _ := Key(rel)
		if err := r.pushFile(ctx, j, key, rel); err != nil {
			return err
		}
	}
	return nil
}

// pushFile uploads the local file path to key; name is what logs call it.
func (r *Remote) pushFile(ctx context.Context, path, key, name string) error {
	_, sent, err := r.store.Upload(ctx, key, path)
	if err != nil {
		return err
	}
	r.logPush(name, key, btoi(sent))
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
