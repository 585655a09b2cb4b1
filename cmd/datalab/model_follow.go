package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// registryFlags are how a server reaches the model registry when its
// --model is a registry reference (registry:<model>@<alias or version>):
// the registry's location, how often the alias is checked, and where
// versions are fetched to.
type registryFlags struct {
	location string
	poll     time.Duration
	cache    string
}

// register adds --registry, --registry-poll and --model-cache to f.
func (r *registryFlags) register(f *pflag.FlagSet) {
	f.StringVar(&r.location, "registry", registry.Location(),
		"model registry of --model registry:… references: a directory, s3://bucket/prefix or gs://bucket/prefix (env "+registry.EnvLocation+"; as datalab models)")
	f.DurationVar(&r.poll, "registry-poll", 2*time.Second, "how often the alias of --model registry:<model>@<alias> is checked; a new version is loaded in the background and swapped in")
	f.StringVar(&r.cache, "model-cache", envOr("DATALAB_MODEL_CACHE", defaultModelCache()), "where registry versions (and, for datalab serve, models given by blob URL) are fetched to (env DATALAB_MODEL_CACHE)")
}

// followModel opens the registry and serves model@target (an alias, or a
// fixed version id) through a registry.Follower: load turns a fetched
// version into a servable model. The model metrics of app
// (serve.ModelMetrics: datalab_model_info and the swap counters) go to
// prom, and each version change is recorded in the registry under this
// host, app and process. stop ends the following and closes the registry.
func followModel[T any](ctx context.Context, rf registryFlags, app, model, target string, load func(dir string) (T, error),
	prom prometheus.Registerer, log *slog.Logger) (f *registry.Follower[T], stop func(), err error) {
	reg, err := registry.Open(ctx, rf.location)
	if err != nil {
		return nil, nil, err
	}
	// The metrics label the alias followed, "" for a fixed version: as
	// Follow decides, target is an alias when an alias of that name
	// points at a version.
	alias := ""
	if registry.CheckName("alias", target) == nil {
		if a, err := reg.Alias(ctx, model, target); err == nil && a.Version != "" {
			alias = target
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	metrics := serve.NewModelMetrics(prom, app, alias)
	host, _ := os.Hostname()
	f, err = registry.Follow(ctx, reg, model, target, load, registry.FollowOptions{
		Interval: rf.poll, CacheDir: rf.cache, Logger: log,
		Instance: fmt.Sprintf("%s:%s:%d", host, app, os.Getpid()),
		OnSwap:   metrics.OnSwap, OnError: metrics.OnError,
	})
	if err != nil {
		cancel()
		reg.Close()
		return nil, nil, fmt.Errorf("%s%s@%s (registry %s): %w", registry.RefScheme, model, target, reg, err)
	}
	return f, func() { cancel(); <-f.Done(); reg.Close() }, nil
}
