package stagerun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkNoopRun times a run with nothing to do over a pipeline of three
// stages, each depending on a 100 MB file and a code directory: with the
// hash state (.datalab/hashes) the deps are not read again; "no-state"
// deletes it before every run, which is what every run cost before it.
//
//	go test ./pipeline/stagerun/ -run '^$' -bench NoopRun -benchtime 5x
func BenchmarkNoopRun(b *testing.B) {
	dir := b.TempDir()
	const depMB = 100
	block := []byte(strings.Repeat("datalab!", 128*1024)) // 1 MiB
	var pipeline strings.Builder
	pipeline.WriteString("params:\n  n: 1\nstages:\n")
	for i := range 3 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("dep%d.bin", i)))
		if err != nil {
			b.Fatal(err)
		}
		for j := range depMB {
			block[0] = byte(i*depMB + j) // distinct blocks
			if _, err := f.Write(block); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
		code := filepath.Join(dir, fmt.Sprintf("code%d", i))
		os.MkdirAll(code, 0o755)
		for j := range 50 {
			os.WriteFile(filepath.Join(code, fmt.Sprintf("f%d.go", j)), []byte(strings.Repeat("// code\n", 300+j)), 0o644)
		}
		fmt.Fprintf(&pipeline, "  s%d:\n    cmd: wc -c dep%d.bin > out%d.txt\n    deps: [dep%d.bin]\n    code: [code%d]\n    params: [n]\n    outs: [out%d.txt]\n", i, i, i, i, i, i)
	}
	path := filepath.Join(dir, "datalab.yaml")
	if err := os.WriteFile(path, []byte(pipeline.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	opts := testOptions()
	if opts.Cache, err = OpenCache(filepath.Join(dir, ".datalab", "cache")); err != nil {
		b.Fatal(err)
	}
	saved := racyWindow
	racyWindow = 0 // the deps were written a moment ago
	defer func() { racyWindow = saved }()
	if _, err := p.Run(context.Background(), nil, opts); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"state", "no-state"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "no-state" {
					os.Remove(stateFile(dir))
				}
				rec, err := p.Run(context.Background(), nil, opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(rec.Ran()) != 0 {
					b.Fatalf("stages ran: %v", rec.Ran())
				}
			}
		})
	}
}
