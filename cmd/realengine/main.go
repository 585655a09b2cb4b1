// Command realengine builds the pinned Dagger CLI and engine from the Go
// module proxy, assembles the images they need, and runs `dagger` commands
// against the engine as a local process with the runc worker: the shell
// over ops/realengine that dagger/realengine/run calls (docs/dagger.md).
//
//	realengine build                 # dagger, dagger-engine, dagger-init, codegen, dnsname
//	realengine images                # the Go SDK image and golang:<go>-bookworm
//	realengine dagger -- ARGS...     # registry + engine up, dagger ARGS, both stopped
//
// Everything lives under --home (DATALAB_REALENGINE_HOME, default
// ~/.cache/datalab/realengine/<dagger version>). Root is required: the
// engine mounts overlays and creates network namespaces.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/datalabhq/datalab/ops/realengine"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "realengine:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func defaultHome() string {
	if h := os.Getenv("DATALAB_REALENGINE_HOME"); h != "" {
		return h
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "datalab", "realengine", realengine.DaggerVersion)
}

const usage = `usage: realengine [--home DIR] build|images|up|dagger [-- ARGS...]

  build    download dagger ` + realengine.DaggerVersion + ` through the module proxy and build
           dagger, dagger-engine, dagger-init, codegen and dnsname into HOME/bin
  images   assemble the engine's builtin Go SDK image (HOME/content) and the
           stand-in for golang:<go>-bookworm (HOME/images/golang; debootstrap)
  up       start the registry and the engine and keep them up until Ctrl-C;
           HOME/run/env holds the environment for dagger commands meanwhile
  checkrun DIR  check what dagger call run exported against datalab.lock
  dagger   start the loopback registry and the engine, run HOME/bin/dagger ARGS
           in the current directory, stop both; exits with dagger's code
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("realengine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home := fs.String("home", defaultHome(), "where the build, the images and the engine's state live (DATALAB_REALENGINE_HOME)")
	force := fs.Bool("force", false, "build: rebuild even when the binaries exist; images: reassemble")
	module := fs.String("module", "dagger", "images: the Dagger module's Go source, whose dependencies the Go SDK image carries")
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	// The command comes first or after the flags; flags may follow it.
	var cmdName string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmdName, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	rest := fs.Args()
	if cmdName == "" && len(rest) > 0 {
		cmdName, rest = rest[0], rest[1:]
		if err := fs.Parse(rest); err != nil {
			return 2, nil
		}
		rest = fs.Args()
	}
	if cmdName == "" {
		fs.Usage()
		return 2, nil
	}
	l := realengine.Layout{Home: *home}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch cmdName {
	case "build":
		return 0, build(ctx, l, *force, log, stderr)
	case "images":
		return 0, images(ctx, l, *module, *force, log, stderr)
	case "checkrun":
		if len(rest) != 1 {
			return 2, errors.New("usage: realengine checkrun DIR (the directory `dagger call run` exported)")
		}
		rc, err := realengine.CheckRun(rest[0], "datalab.lock")
		for _, m := range rc.Matched {
			fmt.Fprintln(stdout, "same as datalab.lock:", m)
		}
		if err != nil {
			return 1, err
		}
		log.Info("checkrun: the engine's outputs are the lock's", "matched", len(rc.Matched), "run_records", rc.RunRecords)
		return 0, nil
	case "up":
		return 0, up(ctx, l, log)
	case "dagger":
		return daggerCmd(ctx, l, rest, log, stdout, stderr)
	default:
		fs.Usage()
		return 2, fmt.Errorf("unknown command %q", cmdName)
	}
}

func build(ctx context.Context, l realengine.Layout, force bool, log *slog.Logger, w io.Writer) error {
	if l.Built() && !force {
		log.Info("dagger binaries already built (--force rebuilds)", "bin", l.Bin())
		return nil
	}
	start := time.Now()
	if err := l.PrepareSource(ctx, w); err != nil {
		return err
	}
	log.Info("source prepared", "dir", l.Src(), "took", time.Since(start).Round(time.Millisecond))
	if err := l.Build(ctx, w); err != nil {
		return err
	}
	log.Info("built", "bin", l.Bin(), "took", time.Since(start).Round(time.Second))
	return nil
}

func goVersion(ctx context.Context) (root, version string, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT", "GOVERSION").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "", "", fmt.Errorf("go env GOROOT GOVERSION: %q", out)
	}
	return f[0], f[1], nil
}

func images(ctx context.Context, l realengine.Layout, module string, force bool, log *slog.Logger, w io.Writer) error {
	if !l.Built() {
		return errors.New("build first: realengine build")
	}
	goroot, gover, err := goVersion(ctx)
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.Images(), "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The Go SDK image is assembled every time (seconds; the same inputs
	// give the same digest): its seed follows the module's go.mod.
	{
		start := time.Now()
		seed, err := realengine.ModuleSeed(ctx, module, tmp)
		if err != nil {
			return err
		}
		img, err := realengine.GoSDKImage(ctx, tmp, realengine.SDKInputs{GoRoot: goroot, GoVersion: gover,
			Codegen: filepath.Join(l.Bin(), "codegen"), Busybox: "/bin/busybox", CACerts: "/etc/ssl/certs/ca-certificates.crt", Seed: seed})
		if err != nil {
			return fmt.Errorf("go SDK image: %w", err)
		}
		_ = os.RemoveAll(l.Content())
		d, err := realengine.WriteLayout(l.Content(), img, nil)
		if err != nil {
			return err
		}
		if err := os.WriteFile(l.SDKDigestFile(), []byte(d.String()+"\n"), 0o644); err != nil {
			return err
		}
		log.Info("go SDK image", "digest", d, "seeded_files", len(seed), "took", time.Since(start).Round(time.Millisecond))
	}
	// The golang stand-in is rebuilt when its root file system's recipe or
	// the Go toolchain changed (stamps beside them).
	golang := l.GolangLayout()
	rootfs := filepath.Join(l.Images(), "bookworm-rootfs")
	rootfsStamp := realengine.RootfsStamp()
	golangStamp := rootfsStamp + " " + gover
	if force || readStamp(rootfs+".stamp") != rootfsStamp {
		start := time.Now()
		_ = os.RemoveAll(rootfs)
		cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(realengine.DebianPackages, ","),
			"bookworm", rootfs, realengine.DebianMirror)
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("debootstrap bookworm: %w", err)
		}
		if err := os.WriteFile(rootfs+".stamp", []byte(rootfsStamp+"\n"), 0o644); err != nil {
			return err
		}
		log.Info("debootstrap", "rootfs", rootfs, "took", time.Since(start).Round(time.Second))
	}
	if force || readStamp(golang+".stamp") != golangStamp {
		start := time.Now()
		img, err := realengine.GoDebianImage(tmp, rootfs, goroot, gover)
		if err != nil {
			return fmt.Errorf("golang image: %w", err)
		}
		_ = os.RemoveAll(golang)
		d, err := realengine.WriteLayout(golang, img, nil)
		if err != nil {
			return err
		}
		if err := os.WriteFile(golang+".stamp", []byte(golangStamp+"\n"), 0o644); err != nil {
			return err
		}
		log.Info("golang image", "ref", realengine.GolangRepoTag(gover), "digest", d, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func readStamp(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// stack is the registry and the engine of one run.
type stack struct {
	reg  *realengine.Registry
	eng  *realengine.Engine
	logf *os.File
	// env is what a dagger command needs to use the engine.
	env []string
	log *slog.Logger
}

func startStack(ctx context.Context, l realengine.Layout, log *slog.Logger) (*stack, error) {
	if !l.Built() {
		return nil, errors.New("build first: realengine build && realengine images")
	}
	sdk, err := os.ReadFile(l.SDKDigestFile())
	if err != nil {
		return nil, fmt.Errorf("no Go SDK image (realengine images): %w", err)
	}
	_, gover, err := goVersion(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.Run(), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(l.Run(), "engine.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s := &stack{logf: logf, log: log}
	if s.reg, err = realengine.StartRegistry("", filepath.Join(l.Home, "registry"), logf); err != nil {
		s.stop()
		return nil, err
	}
	d, err := s.reg.Push(ctx, l.GolangLayout(), realengine.GolangRepoTag(gover))
	if err != nil {
		s.stop()
		return nil, err
	}
	goImage := s.reg.Addr + "/" + realengine.GolangRepoTag(gover) + "@" + d.String()
	log.Info("registry", "addr", s.reg.Addr, "golang", goImage)
	start := time.Now()
	s.eng, err = l.StartEngine(ctx, realengine.EngineConfig{Registry: s.reg.Addr, GoSDKDigest: strings.TrimSpace(string(sdk)),
		GoProxy: realengine.SeedProxy(goProxy(ctx)), CACerts: hostCACerts(), Log: logf})
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("%w (log: %s)", err, logf.Name())
	}
	log.Info("engine up", "pid", s.eng.PID, "runner", s.eng.RunnerHost, "took", time.Since(start).Round(time.Millisecond), "log", logf.Name())
	s.env = []string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST=" + s.eng.RunnerHost, "DAGGER_NO_NAG=1", "DO_NOT_TRACK=1",
		"DATALAB_GO_IMAGE=" + goImage}
	return s, nil
}

func (s *stack) stop() {
	if s.eng != nil {
		start := time.Now()
		if err := s.eng.Stop(); err != nil {
			s.log.Warn("engine stop", "err", err)
		} else {
			s.log.Info("engine stopped", "pid", s.eng.PID, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	if s.reg != nil {
		_ = s.reg.Close()
	}
	_ = s.logf.Close()
}

func daggerCmd(ctx context.Context, l realengine.Layout, args []string, log *slog.Logger, stdout, stderr io.Writer) (int, error) {
	s, err := startStack(ctx, l, log)
	if err != nil {
		return 1, err
	}
	defer s.stop()
	cmd := exec.CommandContext(ctx, filepath.Join(l.Bin(), "dagger"), args...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	start := time.Now()
	err = cmd.Run()
	log.Info("dagger", "args", args, "took", time.Since(start).Round(time.Millisecond), "err", err)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

// up keeps the registry and the engine running until interrupted, with the
// environment a dagger command needs written to HOME/run/env.
func up(ctx context.Context, l realengine.Layout, log *slog.Logger) error {
	s, err := startStack(ctx, l, log)
	if err != nil {
		return err
	}
	defer s.stop()
	envFile := filepath.Join(l.Run(), "env")
	var b strings.Builder
	for _, e := range s.env {
		fmt.Fprintf(&b, "export %s\n", e)
	}
	fmt.Fprintf(&b, "export PATH=%s:$PATH\n", l.Bin())
	if err := os.WriteFile(envFile, []byte(b.String()), 0o644); err != nil {
		return err
	}
	defer os.Remove(envFile)
	log.Info("up: source the environment, then run dagger; Ctrl-C stops", "env", envFile)
	<-ctx.Done()
	return nil
}
func goProxy(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "env", "GOPROXY").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// hostCACerts are the certificate authorities this machine adds to
// Debian's (update-ca-certificates reads them from here): on a machine
// behind a TLS-inspecting egress proxy, its CA, without which no container
// reaches the Go module proxy.
func hostCACerts() []string {
	files, _ := filepath.Glob("/usr/local/share/ca-certificates/*.crt")
	return files
}
