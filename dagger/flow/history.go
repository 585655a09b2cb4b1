package flow

import (
	"fmt"
	"strings"
	"time"

	"dagger.io/dagger"
)

// History is where the pipeline and report functions find what earlier runs
// made, so that runs on throw-away engines accumulate (docs/ci.md):
//
//   - Remote, a bucket: `datalab run --remote URL` fetches the outs of stages
//     that are up to date by datalab.lock instead of recomputing them, pulls
//     the earlier runs' reports into reports/runs/ before the index is
//     built, and pushes this run's artifacts and reports;
//   - otherwise (Run only) Dir, the history/ directory the previous
//     call returned: a directory remote holding only the report site
//     (`datalab report sync --remote /history`), merged into reports/ before
//     the run and returned, grown by this run, for the next one.
type History struct {
	// Remote is an s3:// or gs:// URL as `datalab run --remote` takes it.
	// Not a secret: it reaches the container as an argument.
	Remote string
	// Credentials for Remote, as secrets (by ID only).
	Credentials CloudCredentials
	// Dir is the site history of an earlier Run call (its history/);
	// nil starts an empty one. Not with Remote.
	Dir *dagger.Directory
}

// Paths and variables of the history.
const (
	// HistoryPath is where Run mounts History.Dir (or an empty
	// directory) as the site history's directory remote.
	HistoryPath = "/history"
	// SyncEnv is set to the current time in a container that talks to a
	// Remote, so that the engine never answers its commands from its cache:
	// the bucket's state is an input the engine cannot see.
	SyncEnv = "DATALAB_REMOTE_SYNC_AT"
)

// check refuses a History the CLI could not use, before any engine call.
func (h History) check(what string) error {
	switch {
	case h.Remote != "" && h.Dir != nil:
		return fmt.Errorf("%s: give a remote (a bucket) or a history directory, not both: with a bucket the history is in its site/ prefix", what)
	case h.Remote == "" && !h.Credentials.empty():
		return fmt.Errorf("%s: credentials are given but no remote: add the bucket URL (--remote s3://… or gs://…)", what)
	case h.Remote != "" && !strings.HasPrefix(h.Remote, "s3://") && !strings.HasPrefix(h.Remote, "gs://"):
		return fmt.Errorf("%s: remote %q: want an s3:// or gs:// bucket URL; a directory inside the container is gone when the function returns (without a bucket, pass the last call's history/ as --history)", what, h.Remote)
	}
	return nil
}

// withRemote adds the remote's credentials and the cache-busting variable
// to ctr and returns the `datalab run` arguments that name the remote.
func (h History) withRemote(ctr *dagger.Container) (*dagger.Container, []string) {
	if h.Remote == "" {
		return ctr, nil
	}
	ctr = h.Credentials.apply(ctr).WithEnvVariable(SyncEnv, time.Now().UTC().Format(time.RFC3339Nano))
	return ctr, []string{"--remote", h.Remote}
}

// setArgs turns parameter overrides (key.path=value) into `datalab run`
// arguments, each as one --set=… word so that a value cannot be taken for a
// flag. A malformed one is refused here; the CLI checks keys and types.
func setArgs(what string, set []string) ([]string, error) {
	args := make([]string, 0, len(set))
	for _, s := range set {
		key, _, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(key) == "" || strings.ContainsAny(key, " \t\n") {
			return nil, fmt.Errorf("%s: set %q: want key.path=value, e.g. matches.forests.default.max_depth=12", what, s)
		}
		args = append(args, "--set="+s)
	}
	return args, nil
}
