package realengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NetworkName is the engine's container network: its bridge is
// NetworkName+"0" and its dnsmasq serves NetworkName+".local". Not
// "dagger", so that it never meets a stock engine's bridge.
const NetworkName = "dlabdg"

// NetworkCIDR is the engine's container address range.
const NetworkCIDR = "10.87.0.0/16"

// nsScript runs first inside the engine's private mount namespace. The
// engine expects to own its container's file system: at start it points
// /usr/bin/iptables* at the xtables binary it picks (in /usr/bin, where
// Debian has none), bind-mounts its own resolv.conf over /etc/resolv.conf
// and writes dnsmasq's files under /var/run. Overlays over /etc and
// /usr/bin and a tmpfs on /run keep all of that inside the namespace; the
// host's files are not touched.
const nsScript = `set -e
ns=$1; shift
for d in etc usr/bin; do
  u=$ns/$(echo $d | tr / -)
  rm -rf "$u-upper" "$u-work"; mkdir -p "$u-upper" "$u-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$u-upper,workdir=$u-work" "/$d"
done
for x in xtables-legacy-multi xtables-nft-multi; do
  [ -e /usr/bin/$x ] || [ ! -e /usr/sbin/$x ] || ln -s /usr/sbin/$x /usr/bin/$x
done
mount -t tmpfs tmpfs /run
exec "$@"
`

// EngineConfig is what one engine start needs beyond the layout.
type EngineConfig struct {
	// Registry is the loopback registry (host:port) that stands in for
	// docker.io: the engine's mirror for it, spoken over plain HTTP.
	Registry string
	// GoSDKDigest is the manifest digest of the Go SDK image in
	// l.Content() (DAGGER_GO_SDK_MANIFEST_DIGEST).
	GoSDKDigest string
	// GoProxy is the GOPROXY the engine passes to the Go SDK container
	// (SeedProxy).
	GoProxy string
	// CACerts are PEM files of extra certificate authorities (this
	// machine's /usr/local/share/ca-certificates: its egress proxy's). The
	// engine installs them into every container it runs, as a stock engine
	// does with the certificates in its custom CA directory.
	CACerts []string
	// Log receives the engine's output.
	Log io.Writer
}

// Engine is a running engine process.
type Engine struct {
	l          Layout
	cmd        *exec.Cmd
	done       chan error
	ipForward  []byte
	PID        int
	RunnerHost string
}

// BuildkitConfig is the engine's buildkitd.toml: docker.io mirrored by the
// loopback registry, which speaks plain HTTP.
func BuildkitConfig(registry string) []byte {
	return []byte(fmt.Sprintf("# written by datalab's ops/realengine\n[registry.\"docker.io\"]\n  mirrors = [%q]\n[registry.%q]\n  http = true\n", registry, registry))
}

// StartEngine starts the engine as a local process with the runc worker,
// its state under l.State(), listening only on l.Socket(), and waits until
// the socket answers.
func (l Layout) StartEngine(ctx context.Context, cfg EngineConfig) (*Engine, error) {
	for _, d := range []string{l.Run(), l.CNIBin(), l.State()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := l.linkCNIPlugins(); err != nil {
		return nil, err
	}
	if pid, alive := l.runningEngine(); alive {
		return nil, fmt.Errorf("an engine of %s is already running (pid %d): stop it (kill %d) or give another home (DATALAB_REALENGINE_HOME)", l.Home, pid, pid)
	}
	if err := l.installCACerts(cfg.CACerts); err != nil {
		return nil, err
	}
	conf := filepath.Join(l.Run(), "buildkitd.toml")
	if err := os.WriteFile(conf, BuildkitConfig(cfg.Registry), 0o644); err != nil {
		return nil, err
	}
	_ = os.Remove(l.Socket())
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", nsScript, "realengine-ns", filepath.Join(l.Run(), "ns"),
		filepath.Join(l.Bin(), "dagger-engine"),
		"--config", conf,
		"--root", l.State(),
		"--addr", l.RunnerHost(),
		"--network-name", NetworkName, "--network-cidr", NetworkCIDR,
		"--oci-cni-binary-dir", l.CNIBin(),
		"--oci-worker-binary", Runc,
		"--oci-worker-snapshotter", "overlayfs",
	)
	cmd.Env = append(os.Environ(), "DAGGER_GO_SDK_MANIFEST_DIGEST="+cfg.GoSDKDigest)
	if cfg.GoProxy != "" {
		// How an engine hands a system variable to the containers that ask
		// for it (__withSystemEnvVariable; engineutil's executor_spec.go).
		cmd.Env = append(cmd.Env, "_DAGGER_ENGINE_SYSTEMENV_GOPROXY="+cfg.GoProxy)
	}
	cmd.Stdout, cmd.Stderr = cfg.Log, cfg.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start engine: %w", err)
	}
	e := &Engine{l: l, cmd: cmd, done: make(chan error, 1), ipForward: fwd, PID: cmd.Process.Pid, RunnerHost: l.RunnerHost()}
	go func() { e.done <- cmd.Wait() }()
	if err := os.WriteFile(filepath.Join(l.Run(), "engine.pid"), []byte(strconv.Itoa(e.PID)+"\n"), 0o644); err != nil {
		_ = e.Stop()
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := net.DialTimeout("unix", l.Socket(), time.Second); err == nil {
			c.Close()
			return e, nil
		}
		select {
		case err := <-e.done:
			e.done <- err
			return nil, fmt.Errorf("the engine exited before it listened (%v); its log says why", err)
		case <-ctx.Done():
			_ = e.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = e.Stop()
			return nil, fmt.Errorf("the engine did not listen on %s within 2 minutes", l.Socket())
		}
	}
}

// runningEngine reads the pid file a started engine leaves and reports
// whether that process still runs.
func (l Layout) runningEngine() (int, bool) {
	b, err := os.ReadFile(filepath.Join(l.Run(), "engine.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, syscall.Kill(pid, 0) == nil
}

// installCACerts puts the certificates in the engine's custom CA
// directory (distconsts.EngineCustomCACertsDir is Home/ca-certificates).
func (l Layout) installCACerts(files []string) error {
	dir := filepath.Join(l.Home, "ca-certificates")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// linkCNIPlugins fills l.CNIBin() with the plugins the engine's network
// config chains: bridge, firewall, host-local and loopback from Debian's
// containernetworking-plugins, and dnsname built from dagger's source.
func (l Layout) linkCNIPlugins() error {
	links := map[string]string{"dnsname": filepath.Join(l.Bin(), "dnsname")}
	for _, p := range []string{"bridge", "firewall", "host-local", "loopback"} {
		links[p] = filepath.Join("/usr/lib/cni", p)
	}
	for name, target := range links {
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("CNI plugin %s: %w (apt-get install containernetworking-plugins; dagger/realengine/run does)", name, err)
		}
		link := filepath.Join(l.CNIBin(), name)
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the engine by its PID (SIGTERM, then SIGKILL after 30 s),
// removes its bridge and restores the host's ip_forward setting, which the
// CNI bridge plugin turns on.
func (e *Engine) Stop() error {
	var err error
	select {
	case err = <-e.done: // already exited
	default:
		_ = syscall.Kill(e.PID, syscall.SIGTERM)
		select {
		case err = <-e.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-e.PID, syscall.SIGKILL)
			err = <-e.done
		}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled() {
		err = nil // stopped by the signal sent
	}
	_ = exec.Command("ip", "link", "del", NetworkName+"0").Run()
	if len(e.ipForward) > 0 {
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", bytes.TrimSpace(e.ipForward), 0o644)
	}
	_ = os.Remove(filepath.Join(e.l.Run(), "engine.pid"))
	if err != nil && !strings.Contains(err.Error(), "exit status 0") {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}
