package layout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/datalabhq/datalab/internal/testtree"
	"github.com/datalabhq/datalab/pipeline/objstore"
	"github.com/datalabhq/datalab/pipeline/objstore/objstoretest"
	"github.com/datalabhq/datalab/pipeline/stagerun"
)

func TestKey(t *testing.T) {
	for _, c := range []struct {
		rel, key string
		stored   bool
	}{
		{"data/matches/international_matches.csv", "raw/matches/international_matches.csv", true},
		{"data/pointers/matches/international_matches.csv.pointer", "", false},
		{"data/pointers", "", false},
		{"build/parquet/matches.parquet", "parquet/matches.parquet", true},
		{"build/parquet/matches.quarantine.jsonl", "parquet/matches.quarantine.jsonl", true},
		{"build/models/matches", "models/matches", true},
		{"build/models", "models", true},
		{"build/matches/lookup.json", "build/matches/lookup.json", true},
		{"build/metrics/flights/metrics.json", "build/metrics/flights/metrics.json", true},
		{"runs/20261123T121400Z-1a2b3c", "logs/20261123T121400Z-1a2b3c", true},
		{"flights/sparkjob/train_flights.py", "scripts/train_flights.py", true},
		{"work/model", "files/work/model", true},
		{"./build/x", "build/x", true},
		{"buildx/y", "files/buildx/y", true},
		{"reports/runs/20261123T121400Z-1a2b3c", "site/runs/20261123T121400Z-1a2b3c", true},
		{"reports/index.html", "site/index.html", true},
		{"reports", "site", true},
	} {
		key, ok := Key(c.rel)
		if key != c.key || ok != c.stored {
			t.Errorf("Key(%q) = %q, %v; want %q, %v", c.rel, key, ok, c.key, c.stored)
		}
	}
}

func TestScript(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "datalab.yaml")
	os.WriteFile(path, []byte(`params:
  trees: 7
stages:
  train:
    cmd: datalab train --trees ${params.trees}
    deps: [build/x.parquet]
    outs: [build/models/m]
  ingest:
    cmd: datalab ingest x --out build/x.parquet
    outs: [build/x.parquet]
`), 0o644)
	p, err := stagerun.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(Script(p))
	want := `
# stage ingest
#   outs: build/x.parquet
datalab ingest x --out build/x.parquet

# stage train
#   deps: build/x.parquet
#   outs: build/models/m
datalab train --trees 7
`
	if !strings.HasPrefix(got, "#!/bin/sh\n") || !strings.Contains(got, "set -eu\n") || !strings.HasSuffix(got, want) {
		t.Fatalf("script:\n%s", got)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func pointer(data []byte) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha(data), len(data))
}

// TestRemoteRoundTrip pushes a model directory, a Parquet file and a data
// file from one root to the fake S3 and fetches them into another, and
// checks the keys the layout chose.
func TestRemoteRoundTrip(t *testing.T) {
	ctx := context.Background()
	fake := objstoretest.NewS3(t, "lab")
	log := slog.New(slog.DiscardHandler)
	src := t.TempDir()
	csv := []byte("date,home_team\n2022-11-20,Qatar\n")
	files := map[string][]byte{
		"data/matches/m.csv":                         csv,
		"data/pointers/matches/m.csv.pointer":        pointer(csv),
		"build/parquet/matches.parquet":              []byte("PAR1...PAR1"),
		"build/models/matches/seed/metadata/part-0":  []byte(`{"class":"PipelineModel"}`),
		"build/models/matches/seed/stages/0/data/p0": []byte("trees"),
	}
	for rel, b := range files {
		testtree.WriteFile(t, filepath.Join(src, rel), b)
	}
	r1, err := Open(ctx, fake.URL(), src, log)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	for _, rel := range []string{"data/matches/m.csv", "build/parquet/matches.parquet", "build/models/matches"} {
		if err := r1.Push(ctx, rel); err != nil {
			t.Fatal(err)
		}
	}
	objs := fake.Objects(t)
	for rel, key := range map[string]string{
		"data/matches/m.csv":                         "raw/matches/m.csv",
		"build/parquet/matches.parquet":              "parquet/matches.parquet",
		"build/models/matches/seed/metadata/part-0":  "models/matches/seed/metadata/part-0",
		"build/models/matches/seed/stages/0/data/p0": "models/matches/seed/stages/0/data/p0",
	} {
		if !bytes.Equal(objs[key], files[rel]) {
			t.Errorf("%s: stored %q, want %q", key, objs[key], files[rel])
		}
	}
	if _, ok := objs["models/matches/"+objstore.ManifestName]; !ok {
		t.Error("model directory has no manifest")
	}

	dst := t.TempDir()
	testtree.WriteFile(t, filepath.Join(dst, "data/pointers/matches/m.csv.pointer"), pointer(csv))
	r2, err := Open(ctx, fake.URL(), dst, log)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	for _, rel := range []string{"data/matches/m.csv", "build/parquet/matches.parquet", "build/models/matches"} {
		found, err := r2.Fetch(ctx, rel)
		if err != nil || !found {
			t.Fatalf("fetch %s: found=%v err=%v", rel, found, err)
		}
	}
	for rel, b := range files {
		if strings.HasPrefix(rel, "data/pointers/") {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dst, rel))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("fetched %s = %q, %v; want %q", rel, got, err, b)
		}
	}
	if found, err := r2.Fetch(ctx, "build/models/flights"); found || err != nil {
		t.Fatalf("fetch of an absent directory: found=%v err=%v", found, err)
	}

	// A raw file put there by another tool (no sha256 metadata) is fetched
	// when it is what the pointer declares, and refused when it is not.
	s3c := fake.Client(t)
	for _, c := range []struct {
		body []byte
		ok   bool
	}{{csv, true}, {[]byte("date,home_team\n2022-11-20,Ecuador\n"), false}} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lab"), Key: aws.String("raw/matches/m.csv"), Body: bytes.NewReader(c.body)}); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dst, "data/matches/m.csv"))
		_, err := r2.Fetch(ctx, "data/matches/m.csv")
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, objstore.ErrCorrupt)) {
			t.Fatalf("raw file uploaded by another tool (declared bytes: %v): err = %v", c.ok, err)
		}
	}
}
