package matchapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// model locations
	_ "gocloud.dev/blob/s3blob"   // s3:// model locations

	"github.com/datalabhq/datalab/matches/matchwinner"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
)

// Loader loads a trained model from a local directory (matchmodel.Load).
type Loader func(dir string) (matchwinner.Predictor, error)

// LoadModel loads the model at location with load. location is a local
// directory, or a blob URL (file:///…, s3://bucket?prefix=models/match/&region=…)
// whose objects are first copied into a fresh directory under cacheDir.
func LoadModel(ctx context.Context, location, cacheDir string, load Loader) (matchwinner.Predictor, error) {
	if load == nil {
		return nil, errors.New("no model loader configured")
	}
	dir, err := FetchModel(ctx, location, cacheDir)
	if err != nil {
		return nil, err
	}
	p, err := load(dir)
	if err != nil {
		return nil, fmt.Errorf("load model from %s: %w", location, err)
	}
	return p, nil
}

// FetchModel returns a local directory holding the model at location: the
// directory itself when location is a path, or a copy of every object under
// a blob URL, written to cacheDir/model-<hash of the URL>. The copy is made
// in a temporary directory and renamed into place, so a failed download never
// leaves a half-copied model where a later start would load it.
func FetchModel(ctx context.Context, location, cacheDir string) (string, error) {
	if location == "" {
		return "", errors.New("no model location: give --model DIR|URL (or DATALAB_MODEL)")
	}
	if !strings.Contains(location, "://") {
		info, err := os.Stat(location)
		if err != nil {
			return "", fmt.Errorf("model directory: %w", err)
		}
		if !info.IsDir() {
			return "", fmt.Errorf("model %s is not a directory", location)
		}
		return location, nil
	}
	bucket, err := blob.OpenBucket(ctx, location)
	if err != nil {
		return "", fmt.Errorf("open model location %s: %w", location, err)
	}
	defer bucket.Close()
	if cacheDir == "" {
		cacheDir = filepath.Join(os.TempDir(), "datalab-models")
	}
	sum := sha256.Sum256([]byte(location))
	dst := filepath.Join(cacheDir, "model-"+hex.EncodeToString(sum[:8]))
	tmp, err := atomicfile.TempDirBeside(dst, "download")
	if err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	n, err := copyBucket(ctx, bucket, tmp)
	if err != nil {
		return "", fmt.Errorf("copy model from %s: %w", location, err)
	}
	if n == 0 {
		return "", fmt.Errorf("model location %s holds no files", location)
	}
	// A model already cached from this location stays in place until the
	// new copy is complete.
	if err := atomicfile.ReplaceDir(tmp, dst); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	return dst, nil
}

// copyBucket copies every object of b into dir, refusing keys that would
// land outside it.
func copyBucket(ctx context.Context, b *blob.Bucket, dir string) (int, error) {
	it := b.List(nil)
	n := 0
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if obj.IsDir {
			continue
		}
		rel := filepath.FromSlash(obj.Key)
		if !filepath.IsLocal(rel) {
			return n, fmt.Errorf("object key %q escapes the model directory", obj.Key)
		}
		if err := copyObject(ctx, b, obj.Key, filepath.Join(dir, rel)); err != nil {
			return n, err
		}
		n++
	}
}

func copyObject(ctx context.Context, b *blob.Bucket, key, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("copy %s: %w", key, err)
	}
	return f.Close()
}
