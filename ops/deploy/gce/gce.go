// Package gce deploys the datalab compose stack to Google Compute Engine:
// one Container-Optimized OS VM whose startup script fetches the compose
// file, resolves the database secret (and an external Kafka's SASL
// password) with the VM's service account and starts the stack with `docker compose up`, and the firewall rules that let
// the web reach it on 80 and 443 — nothing else from the internet.
//
// It reads the current firewalls and instance through the Compute Engine
// REST API (google.golang.org/api/compute/v1), plans the difference
// (ops/deploy.Plan) and applies it, waiting for every Operation to be
// DONE. `datalab deploy gce` is its shell.
package gce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/datalabhq/datalab/ops/deploy"
)

// Defaults of Config.
const (
	DefaultName           = "datalab"
	DefaultMachineType    = "e2-small"
	DefaultImage          = "projects/cos-cloud/global/images/family/cos-stable"
	DefaultNetwork        = "default"
	DefaultServiceAccount = "default"
	DefaultDiskSizeGB     = 20
	DefaultPollInterval   = 2 * time.Second

	// IAPRange is where Identity-Aware Proxy TCP forwarding connects from:
	// the only source SSH is ever opened to (--ssh-via-iap).
	IAPRange = "35.235.240.0/20"
	// WebPort is the port the stack's web app is published on on the VM.
	WebPort = 80
)

// CloudPlatformScope is the VM's OAuth scope; what it may do is decided by
// the service account's IAM roles (Secret Manager accessor on one secret).
const CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// Config is what `datalab deploy gce` deploys.
type Config struct {
	Project, Zone string
	// Name is the VM's name, its network tag, and the prefix of the
	// firewall rules' names.
	Name        string
	MachineType string
	// Image is the boot image: a Container-Optimized OS family or image.
	Image   string
	Network string
	// ServiceAccount is the VM's identity ("default" = the project's
	// Compute Engine default service account). It needs
	// roles/secretmanager.secretAccessor on the DB secret.
	ServiceAccount string
	// Stack is the compose stack the VM runs. Its DBSecret, when set, is a
	// Secret Manager name: projects/P/secrets/S[/versions/V].
	// HTTPPort is ignored: the web app is published on WebPort.
	Stack deploy.Stack
	// SSHViaIAP opens tcp:22 from IAPRange only (IAP TCP forwarding with
	// OS Login); without it no SSH rule exists, and an old one is deleted.
	SSHViaIAP bool
	// Recreate allows replacing the VM when a setting that cannot change in
	// place (machine type, service account) differs.
	Recreate bool
	// PollInterval is the time between two reads of a pending Operation.
	PollInterval time.Duration
}

var (
	nameRE   = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,52}[a-z0-9])?$`)
	secretRE = regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+(/versions/[^/]+)?$`)
)

// withDefaults fills empty fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.MachineType == "" {
		c.MachineType = DefaultMachineType
	}
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.ServiceAccount == "" {
		c.ServiceAccount = DefaultServiceAccount
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	c.Stack = c.Stack.WithDefaults()
	c.Stack.HTTPPort = WebPort
	switch {
	case c.Project == "":
		return c, errors.New("no GCP project: pass --project (or set GOOGLE_CLOUD_PROJECT)")
	case c.Zone == "":
		return c, errors.New("no zone: pass --zone (e.g. europe-west1-b)")
	case !nameRE.MatchString(c.Name):
		return c, fmt.Errorf("name %q: want a lowercase GCE name of at most 54 characters (letters, digits, dashes)", c.Name)
	}
	if err := c.Stack.Check("gs"); err != nil {
		return c, err
	}
	if s := c.Stack.DBSecret; s != "" {
		if strings.Contains(s, "://") || strings.Contains(s, "@") {
			return c, errors.New("--db-secret looks like a DSN: pass the Secret Manager name (projects/P/secrets/S) of a secret holding it, never the DSN itself")
		}
		if !secretRE.MatchString(s) {
			return c, fmt.Errorf("--db-secret %q: want a Secret Manager name, projects/PROJECT/secrets/SECRET[/versions/VERSION]", s)
		}
		c.Stack.DBSecret = secretVersion(s)
	}
	if s := c.Stack.KafkaSecret; s != "" {
		if !secretRE.MatchString(s) {
			// Not echoed: it may be the password itself.
			return c, errors.New("--kafka-secret is not a Secret Manager name: pass projects/PROJECT/secrets/SECRET[/versions/VERSION] of a secret holding the SASL password, never the password itself")
		}
		c.Stack.KafkaSecret = secretVersion(s)
	}
	return c, nil
}

// secretVersion pins a Secret Manager name to a version, latest unless
// one is given: the access API wants a version.
func secretVersion(name string) string {
	if strings.Contains(name, "/versions/") {
		return name
	}
	return name + "/versions/latest"
}

// webFirewall and sshFirewall name the two rules of a deployment.
func (c Config) webFirewall() string { return c.Name + "-web" }
func (c Config) sshFirewall() string { return c.Name + "-ssh-iap" }

// firewalls returns the rules the deployment wants: 80 and
// 443 from anywhere, and tcp:22 from IAPRange with SSHViaIAP. Each applies
// to the VMs tagged with the deployment's name.
func (c Config) firewalls() []*compute.Firewall {
	network := "global/networks/" + c.Network
	fws := []*compute.Firewall{{
		Name:         c.webFirewall(),
		Description:  "datalab: the web app (HTTP and HTTPS) from the internet; managed by datalab deploy",
		Network:      network,
		Direction:    "INGRESS",
		Priority:     1000,
		Allowed:      []*compute.FirewallAllowed{{IPProtocol: "tcp", Ports: []string{"80", "443"}}},
		SourceRanges: []string{"0.0.0.0/0"},
		TargetTags:   []string{c.Name},
	}}
	if c.SSHViaIAP {
		fws = append(fws, &compute.Firewall{
			Name:         c.sshFirewall(),
			Description:  "datalab: SSH through Identity-Aware Proxy TCP forwarding only; managed by datalab deploy",
			Network:      network,
			Direction:    "INGRESS",
			Priority:     1000,
			Allowed:      []*compute.FirewallAllowed{{IPProtocol: "tcp", Ports: []string{"22"}}},
			SourceRanges: []string{IAPRange},
			TargetTags:   []string{c.Name},
		})
	}
	return fws
}

// FirewallRules flattens a firewall into deploy.Rules: one per allowed
// protocol/port range and source (range or tag). Egress and deny rules
// let nothing in and give none.
func FirewallRules(fw *compute.Firewall) ([]deploy.Rule, error) {
	if fw.Direction == "EGRESS" || len(fw.Allowed) == 0 {
		return nil, nil
	}
	sources := slices.Clone(fw.SourceRanges)
	for _, t := range fw.SourceTags {
		sources = append(sources, "tag:"+t)
	}
	for _, sa := range fw.SourceServiceAccounts {
		sources = append(sources, "serviceAccount:"+sa)
	}
	if len(sources) == 0 {
		// GCE: an ingress rule with no source at all applies to every source.
		sources = []string{"0.0.0.0/0"}
	}
	var rules []deploy.Rule
	for _, a := range fw.Allowed {
		ranges := [][2]int{{0, 0}}
		if len(a.Ports) > 0 {
			ranges = ranges[:0]
			for _, p := range a.Ports {
				lo, hi, ok := strings.Cut(p, "-")
				from, err1 := strconv.Atoi(lo)
				to, err2 := from, error(nil)
				if ok {
					to, err2 = strconv.Atoi(hi)
				}
				if err1 != nil || err2 != nil {
					return nil, fmt.Errorf("firewall %s: port %q is not a port or range", fw.Name, p)
				}
				ranges = append(ranges, [2]int{from, to})
			}
		}
		for _, r := range ranges {
			for _, s := range sources {
				rules = append(rules, deploy.Rule{Resource: "firewall " + fw.Name, Protocol: a.IPProtocol, FromPort: r[0], ToPort: r[1], Source: s})
			}
		}
	}
	return rules, nil
}

// Deployer reads and changes one project's Compute Engine resources.
type Deployer struct {
	cfg Config
	svc *compute.Service
	log *slog.Logger
}

// New connects to Compute Engine with opts (credentials come from
// Application Default Credentials unless opts say otherwise) and checks cfg.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts ...option.ClientOption) (*Deployer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkIngress(cfg); err != nil {
		return nil, err
	}
	svc, err := compute.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to Compute Engine: %w", err)
	}
	return &Deployer{cfg: cfg, svc: svc, log: log}, nil
}

// checkIngress refuses a configuration whose firewalls would open a
// protected port to the internet, before any call is made.
func checkIngress(cfg Config) error {
	var rules []deploy.Rule
	for _, fw := range cfg.firewalls() {
		r, err := FirewallRules(fw)
		if err != nil {
			return err
		}
		rules = append(rules, r...)
	}
	return deploy.CheckIngress(rules)
}

// Offline plans cfg against an empty project without calling anything.
func Offline(cfg Config) (*deploy.Plan, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkIngress(cfg); err != nil {
		return nil, err
	}
	d := &Deployer{cfg: cfg}
	dep := d.plan(state{})
	dep.Plan.Offline = true
	return &dep.Plan, nil
}

// state is what exists in the project; nil means absent.
type state struct {
	firewalls map[string]*compute.Firewall
	instance  *compute.Instance
}

// Plan reads the firewalls and the VM and returns the deployment that makes
// them as configured. It makes no change.
func (d *Deployer) Plan(ctx context.Context) (*deploy.Deployment, error) {
	st := state{firewalls: map[string]*compute.Firewall{}}
	for _, name := range []string{d.cfg.webFirewall(), d.cfg.sshFirewall()} {
		fw, err := d.svc.Firewalls.Get(d.cfg.Project, name).Context(ctx).Do()
		if err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("read firewall %s: %w", name, err)
		}
		if err == nil {
			st.firewalls[name] = fw
		}
	}
	in, err := d.svc.Instances.Get(d.cfg.Project, d.cfg.Zone, d.cfg.Name).Context(ctx).Do()
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("read instance %s: %w", d.cfg.Name, err)
	}
	if err == nil {
		st.instance = in
	}
	return d.plan(st), nil
}

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}

// plan is the pure part of Plan: desired vs st.
func (d *Deployer) plan(st state) *deploy.Deployment {
	cfg := d.cfg
	dep := &deploy.Deployment{Plan: deploy.Plan{
		Target: "gce",
		Scope:  []string{"project " + cfg.Project, "zone " + cfg.Zone, "name " + cfg.Name},
	}}
	wanted := map[string]bool{}
	for _, fw := range cfg.firewalls() {
		wanted[fw.Name] = true
		d.planFirewall(dep, fw, st.firewalls[fw.Name])
	}
	if old := st.firewalls[cfg.sshFirewall()]; old != nil && !wanted[old.Name] {
		c := deploy.Change{Action: deploy.Delete, Kind: "firewall", Name: old.Name, Reason: "SSH is closed unless --ssh-via-iap is given"}
		dep.Add(c, func(ctx context.Context) error {
			op, err := d.svc.Firewalls.Delete(cfg.Project, old.Name).Context(ctx).Do()
			return d.wait(ctx, op, err)
		})
	}
	d.planInstance(dep, st.instance)
	return dep
}

func (d *Deployer) planFirewall(dep *deploy.Deployment, want, have *compute.Firewall) {
	cfg := d.cfg
	if have == nil {
		c := deploy.Change{Action: deploy.Create, Kind: "firewall", Name: want.Name}
		c.Set("allowed", allowedString(want.Allowed))
		c.Set("direction", want.Direction)
		c.Set("network", path.Base(want.Network))
		c.Set("priority", strconv.FormatInt(want.Priority, 10))
		c.Set("sourceRanges", strings.Join(want.SourceRanges, ","))
		c.Set("targetTags", strings.Join(want.TargetTags, ","))
		dep.Add(c, func(ctx context.Context) error {
			op, err := d.svc.Firewalls.Insert(cfg.Project, want).Context(ctx).Do()
			return d.wait(ctx, op, err)
		})
		return
	}
	c := deploy.Change{Action: deploy.Update, Kind: "firewall", Name: want.Name}
	c.Diff("allowed", allowedString(have.Allowed), allowedString(want.Allowed))
	c.Diff("denied", allowedString(deniedAsAllowed(have.Denied)), "")
	c.Diff("direction", have.Direction, want.Direction)
	c.Diff("disabled", strconv.FormatBool(have.Disabled), "false")
	c.Diff("priority", strconv.FormatInt(have.Priority, 10), strconv.FormatInt(want.Priority, 10))
	c.Diff("sourceRanges", sortedJoin(have.SourceRanges), sortedJoin(want.SourceRanges))
	c.Diff("sourceTags", sortedJoin(have.SourceTags), "")
	c.Diff("targetTags", sortedJoin(have.TargetTags), sortedJoin(want.TargetTags))
	c.Diff("targetServiceAccounts", sortedJoin(have.TargetServiceAccounts), "")
	if path.Base(have.Network) != path.Base(want.Network) {
		// A firewall's network cannot change: delete and insert.
		c.Action, c.Reason = deploy.Replace, "a firewall cannot move to another network"
		c.Diff("network", path.Base(have.Network), path.Base(want.Network))
		dep.Add(c, func(ctx context.Context) error {
			op, err := d.svc.Firewalls.Delete(cfg.Project, want.Name).Context(ctx).Do()
			if err := d.wait(ctx, op, err); err != nil {
				return err
			}
			op, err = d.svc.Firewalls.Insert(cfg.Project, want).Context(ctx).Do()
			return d.wait(ctx, op, err)
		})
		return
	}
	dep.Add(c, func(ctx context.Context) error {
		// Update (PUT) replaces the whole rule, so fields set by hand
		// (source tags, a deny list) do not survive; Patch would merge them.
		patch := *want
		patch.ForceSendFields = []string{"Disabled", "SourceTags", "TargetServiceAccounts", "Denied"}
		op, err := d.svc.Firewalls.Update(cfg.Project, want.Name, &patch).Context(ctx).Do()
		return d.wait(ctx, op, err)
	})
}

// managedMetadata is the VM metadata the deployment owns; other keys (ssh
// keys added by hand, for instance) are kept as they are.
// The datalab-* keys repeat what the startup script embeds, so that a plan
// says which setting changed rather than only the script's digest.
func (c Config) managedMetadata() map[string]string {
	md := map[string]string{
		"startup-script":         c.startupScript(),
		"google-logging-enabled": "true",
		"enable-oslogin":         "TRUE",
		"block-project-ssh-keys": "TRUE",
		"datalab-compose-url":    c.Stack.ComposeURL,
		"datalab-compose-image":  c.Stack.ComposeImage,
		"datalab-db-secret":      c.Stack.DBSecret,
	}
	if c.Stack.DBSecret == "" {
		md["datalab-db-secret"] = "(none: the stack's own database)"
	}
	if c.Stack.ModelsURL != "" {
		md["datalab-models-url"] = c.Stack.ModelsURL
	}
	// Always set, like datalab-db-secret: a key left from an earlier
	// deployment would name a secret the VM no longer reads.
	md["datalab-kafka-secret"] = c.Stack.KafkaSecret
	if c.Stack.KafkaSecret == "" {
		md["datalab-kafka-secret"] = "(none: no Kafka SASL password)"
	}
	if len(c.Stack.Env) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(c.Stack.Env)) {
			kv = append(kv, k+"="+c.Stack.Env[k])
		}
		md["datalab-stack-env"] = strings.Join(kv, " ")
	}
	return md
}

// StartupScript returns the VM's startup-script metadata for cfg (what
// `datalab deploy gce --print-startup-script` prints).
func StartupScript(cfg Config) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	return cfg.startupScript(), nil
}

// startupScript is the boot script of ops/deploy with the GCE steps.
func (c Config) startupScript() string {
	steps := deploy.BootSteps{
		Cloud: "GCE (Container-Optimized OS)",
		Prepare: `systemctl start docker
gcp_token() {
  curl -fsS -H 'Metadata-Flavor: Google' \
    http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token |
    sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}`,
	}
	steps.Fetch = func(rawURL, dest string) string {
		u, err := url.Parse(rawURL)
		if err != nil || u.Scheme != "gs" {
			return deploy.FetchHTTPS(rawURL, dest)
		}
		// A gs:// object through the Cloud Storage JSON API with the VM's
		// token: COS has curl but no gsutil.
		object := url.PathEscape(strings.TrimPrefix(u.Path, "/"))
		api := "https://storage.googleapis.com/storage/v1/b/" + u.Host + "/o/" + object + "?alt=media"
		return `curl -fsSL --retry 5 -H "Authorization: Bearer $(gcp_token)" -o ` + dest + " " + deploy.ShellQuote(api)
	}
	steps.FetchSecret = func(name string) string {
		return `curl -fsS --retry 5 -H "Authorization: Bearer $(gcp_token)" \
  ` + deploy.ShellQuote("https://secretmanager.googleapis.com/v1/"+name+":access") + ` |
  tr -d '\n' | sed -n 's/.*"data" *: *"\([^"]*\)".*/\1/p' | base64 -d`
	}
	return deploy.BootScript(c.Stack, steps)
}

// instance is the VM the deployment wants.
func (c Config) instance() *compute.Instance {
	md := c.managedMetadata()
	var items []*compute.MetadataItems
	for _, k := range slices.Sorted(maps.Keys(md)) {
		v := md[k]
		items = append(items, &compute.MetadataItems{Key: k, Value: &v})
	}
	return &compute.Instance{
		Name:        c.Name,
		Description: "datalab compose stack; managed by datalab deploy",
		MachineType: "zones/" + c.Zone + "/machineTypes/" + c.MachineType,
		Labels:      map[string]string{"managed-by": "datalab"},
		Tags:        &compute.Tags{Items: []string{c.Name}},
		Disks: []*compute.AttachedDisk{{
			Boot: true, AutoDelete: true, Type: "PERSISTENT", Mode: "READ_WRITE",
			InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: c.Image, DiskSizeGb: DefaultDiskSizeGB},
		}},
		NetworkInterfaces: []*compute.NetworkInterface{{
			Network:       "global/networks/" + c.Network,
			AccessConfigs: []*compute.AccessConfig{{Name: "External NAT", Type: "ONE_TO_ONE_NAT"}},
		}},
		ServiceAccounts: []*compute.ServiceAccount{{Email: c.ServiceAccount, Scopes: []string{CloudPlatformScope}}},
		Metadata:        &compute.Metadata{Items: items},
		ShieldedInstanceConfig: &compute.ShieldedInstanceConfig{
			EnableSecureBoot: true, EnableVtpm: true, EnableIntegrityMonitoring: true,
		},
	}
}

// planInstance plans the VM: created when missing, replaced when a setting
// Compute Engine cannot change on a running VM differs, its metadata and
// network tags updated in place otherwise.
func (d *Deployer) planInstance(dep *deploy.Deployment, have *compute.Instance) {
	md := d.cfg.managedMetadata()
	if have == nil {
		d.planCreateInstance(dep, md)
		return
	}
	dep.URL = instanceURL(have)
	c := deploy.Change{Action: deploy.Update, Kind: "instance", Name: d.cfg.Name}
	if d.diffFixedSettings(&c, have) {
		d.planReplaceInstance(dep, c, md)
		return
	}
	d.planInstanceInPlace(dep, c, have, md)
}

// planCreateInstance plans creating the VM; md is its managed metadata.
func (d *Deployer) planCreateInstance(dep *deploy.Deployment, md map[string]string) {
	cfg := d.cfg
	want := cfg.instance()
	c := deploy.Change{Action: deploy.Create, Kind: "instance", Name: cfg.Name}
	c.Set("disk", fmt.Sprintf("%d GB from %s", DefaultDiskSizeGB, cfg.Image))
	c.Set("externalIP", "ephemeral")
	c.Set("labels", "managed-by=datalab")
	c.Set("machineType", cfg.MachineType)
	setMetadataFields(&c, md)
	c.Set("network", cfg.Network)
	c.Set("serviceAccount", cfg.ServiceAccount+" (scope cloud-platform)")
	c.Set("shieldedVM", "secure boot, vTPM, integrity monitoring")
	c.Set("tags", cfg.Name)
	dep.Add(c, func(ctx context.Context) error {
		op, err := d.svc.Instances.Insert(cfg.Project, cfg.Zone, want).Context(ctx).Do()
		if err := d.wait(ctx, op, err); err != nil {
			return err
		}
		return d.readURL(ctx, dep)
	})
}

// diffFixedSettings records in c the settings Compute Engine cannot change
// on a running VM (machine type, service account and its scopes) where
// have differs from the config, and reports whether any did: the VM must
// then be replaced.
func (d *Deployer) diffFixedSettings(c *deploy.Change, have *compute.Instance) bool {
	cfg := d.cfg
	replace := c.Diff("machineType", path.Base(have.MachineType), cfg.MachineType)
	haveSA, haveScopes := "", ""
	if len(have.ServiceAccounts) > 0 {
		haveSA, haveScopes = have.ServiceAccounts[0].Email, sortedJoin(have.ServiceAccounts[0].Scopes)
	}
	if cfg.ServiceAccount != DefaultServiceAccount || haveSA == "" {
		// "default" is returned as the account's email; only an explicit
		// account can be compared.
		replace = c.Diff("serviceAccount", haveSA, cfg.ServiceAccount) || replace
	}
	return c.Diff("scopes", haveScopes, CloudPlatformScope) || replace
}

// planReplaceInstance turns c, the fixed settings that differ, into a
// Replace of the VM with metadata md, applied only with --recreate.
func (d *Deployer) planReplaceInstance(dep *deploy.Deployment, c deploy.Change, md map[string]string) {
	cfg := d.cfg
	want := cfg.instance()
	c.Action = deploy.Replace
	c.Reason = "machine type and service account cannot change in place; needs --recreate (the boot disk is deleted with the VM)"
	setMetadataFields(&c, md)
	dep.Add(c, func(ctx context.Context) error {
		if !cfg.Recreate {
			return fmt.Errorf("the VM must be replaced (%s): run again with --recreate to delete and recreate it", fieldNames(c))
		}
		op, err := d.svc.Instances.Delete(cfg.Project, cfg.Zone, cfg.Name).Context(ctx).Do()
		if err := d.wait(ctx, op, err); err != nil {
			return err
		}
		op, err = d.svc.Instances.Insert(cfg.Project, cfg.Zone, want).Context(ctx).Do()
		if err := d.wait(ctx, op, err); err != nil {
			return err
		}
		return d.readURL(ctx, dep)
	})
}

// setMetadataFields records every managed metadata key as set, the
// startup script by its digest (see metadataShown).
func setMetadataFields(c *deploy.Change, md map[string]string) {
	for k, v := range md {
		c.Set("metadata."+k, metadataShown(k, v))
	}
}

// planInstanceInPlace plans the changes a running VM takes in place:
// metadata (the startup script runs again at the next boot; the stack is
// restarted with `sudo google_metadata_script_runner startup` or a reset)
// and network tags, each guarded by its fingerprint.
func (d *Deployer) planInstanceInPlace(dep *deploy.Deployment, c deploy.Change, have *compute.Instance, md map[string]string) {
	haveMD, mdFingerprint := instanceMetadata(have)
	mdChanged := diffMetadata(&c, haveMD, md)
	var haveTags []string
	var tagFingerprint string
	if have.Tags != nil {
		haveTags, tagFingerprint = have.Tags.Items, have.Tags.Fingerprint
	}
	tagsChanged := c.Diff("tags", sortedJoin(haveTags), d.cfg.Name)
	dep.Add(c, func(ctx context.Context) error {
		if mdChanged {
			if err := d.setMetadata(ctx, mergedMetadata(haveMD, md, mdFingerprint)); err != nil {
				return err
			}
		}
		if tagsChanged {
			if err := d.setTags(ctx, tagFingerprint); err != nil {
				return err
			}
		}
		return nil
	})
}

// instanceMetadata returns the VM's metadata items with a value, and the
// fingerprint that guards changing them.
func instanceMetadata(have *compute.Instance) (items map[string]string, fingerprint string) {
	items = map[string]string{}
	if have.Metadata != nil {
		fingerprint = have.Metadata.Fingerprint
		for _, it := range have.Metadata.Items {
			if it.Value != nil {
				items[it.Key] = *it.Value
			}
		}
	}
	return items, fingerprint
}

// diffMetadata records in c each managed key whose value in haveMD is
// missing or differs from md, and reports whether any did.
func diffMetadata(c *deploy.Change, haveMD, md map[string]string) bool {
	changed := false
	for _, k := range slices.Sorted(maps.Keys(md)) {
		old, ok := haveMD[k]
		oldShown := "(unset)"
		if ok {
			oldShown = metadataShown(k, old)
		}
		if !ok || old != md[k] {
			c.Diff("metadata."+k, oldShown, metadataShown(k, md[k]))
			changed = true
		}
	}
	return changed
}

// mergedMetadata is the VM's metadata with the managed keys md set over
// it, sorted by key and guarded by fingerprint: keys the deployment does
// not own are kept.
func mergedMetadata(haveMD, md map[string]string, fingerprint string) *compute.Metadata {
	merged := map[string]string{}
	for k, v := range haveMD {
		merged[k] = v
	}
	for k, v := range md {
		merged[k] = v
	}
	m := &compute.Metadata{Fingerprint: fingerprint}
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		v := merged[k]
		m.Items = append(m.Items, &compute.MetadataItems{Key: k, Value: &v})
	}
	return m
}

// setMetadata replaces the VM's metadata with m (whose fingerprint must be
// the VM's current one).
func (d *Deployer) setMetadata(ctx context.Context, m *compute.Metadata) error {
	cfg := d.cfg
	op, err := d.svc.Instances.SetMetadata(cfg.Project, cfg.Zone, cfg.Name, m).Context(ctx).Do()
	if err := d.wait(ctx, op, err); err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}
	return nil
}

// setTags sets the VM's network tags to its name (the firewall rules'
// target), guarded by fingerprint.
func (d *Deployer) setTags(ctx context.Context, fingerprint string) error {
	cfg := d.cfg
	t := &compute.Tags{Items: []string{cfg.Name}, Fingerprint: fingerprint}
	op, err := d.svc.Instances.SetTags(cfg.Project, cfg.Zone, cfg.Name, t).Context(ctx).Do()
	if err := d.wait(ctx, op, err); err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	return nil
}

// readURL records the new VM's address in dep.
func (d *Deployer) readURL(ctx context.Context, dep *deploy.Deployment) error {
	in, err := d.svc.Instances.Get(d.cfg.Project, d.cfg.Zone, d.cfg.Name).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("read the new instance: %w", err)
	}
	dep.URL = instanceURL(in)
	return nil
}

func instanceURL(in *compute.Instance) string {
	for _, ni := range in.NetworkInterfaces {
		for _, ac := range ni.AccessConfigs {
			if ac.NatIP != "" {
				return "http://" + ac.NatIP + "/"
			}
		}
	}
	return ""
}

// wait polls op until it is DONE and returns its error, if any. err is the
// error of the call that returned op, so callers can pass both through.
func (d *Deployer) wait(ctx context.Context, op *compute.Operation, err error) error {
	if err != nil {
		return err
	}
	for op.Status != "DONE" {
		select {
		case <-ctx.Done():
			return fmt.Errorf("operation %s (%s): %w", op.Name, op.OperationType, ctx.Err())
		case <-time.After(d.cfg.PollInterval):
		}
		polled := op
		if op.Zone != "" {
			op, err = d.svc.ZoneOperations.Get(d.cfg.Project, path.Base(op.Zone), op.Name).Context(ctx).Do()
		} else {
			op, err = d.svc.GlobalOperations.Get(d.cfg.Project, op.Name).Context(ctx).Do()
		}
		if err != nil {
			return fmt.Errorf("poll operation %s (%s): %w", polled.Name, polled.OperationType, err)
		}
		if d.log != nil {
			d.log.Debug("operation", "name", op.Name, "type", op.OperationType, "target", path.Base(op.TargetLink), "status", op.Status, "progress", op.Progress)
		}
	}
	if op.Error != nil && len(op.Error.Errors) > 0 {
		var msgs []string
		for _, e := range op.Error.Errors {
			msgs = append(msgs, e.Code+": "+e.Message)
		}
		return fmt.Errorf("operation %s (%s) failed: %s", op.Name, op.OperationType, strings.Join(msgs, "; "))
	}
	return nil
}

func allowedString(as []*compute.FirewallAllowed) string {
	var parts []string
	for _, a := range as {
		p := a.IPProtocol
		if len(a.Ports) > 0 {
			p += ":" + strings.Join(a.Ports, ",")
		}
		parts = append(parts, p)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func deniedAsAllowed(ds []*compute.FirewallDenied) []*compute.FirewallAllowed {
	var as []*compute.FirewallAllowed
	for _, d := range ds {
		as = append(as, &compute.FirewallAllowed{IPProtocol: d.IPProtocol, Ports: d.Ports})
	}
	return as
}

func sortedJoin(xs []string) string {
	return strings.Join(slices.Sorted(slices.Values(xs)), ",")
}

// metadataShown prints a metadata value in a plan: the startup script by
// its digest (the whole script is printed by --print-startup-script).
func metadataShown(key, value string) string {
	if key == "startup-script" {
		return deploy.Digest(value)
	}
	return value
}

func fieldNames(c deploy.Change) string {
	var names []string
	for _, f := range c.Fields {
		if f.Op == deploy.OpChange {
			names = append(names, f.Name+" "+f.Old+" → "+f.New)
		}
	}
	return strings.Join(names, ", ")
}
