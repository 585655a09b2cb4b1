// Package fakecloud holds the fake clouds the deploy tests run against:
// httptest servers that speak the wire protocols the real SDK clients use —
// Compute Engine's REST/JSON API with Operations, and the EC2 (ec2Query),
// Auto Scaling and ELBv2 (awsQuery) form-encoded POST APIs with XML answers.
// They keep state, so a second deployment sees what the first created, record
// every request for the tests to inspect, and fail on demand.
package fakecloud

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"

	compute "google.golang.org/api/compute/v1"
)

// Request is one HTTP request a fake received.
type Request struct {
	Method, Path string
	Body         []byte
	// Action is the AWS action ("CreateSecurityGroup"); for GCE it is the
	// method and path without the project prefix ("POST global/firewalls").
	Action string
	// Form holds an AWS request's parameters.
	Form map[string][]string
}

const computeURL = "https://www.googleapis.com/compute/v1/"

// GCE is a fake Compute Engine endpoint.
type GCE struct {
	srv *httptest.Server
	// PendingPolls is how many times an operation is reported RUNNING
	// before DONE (default 1: every wait polls at least once).
	PendingPolls int

	mu        sync.Mutex
	requests  []Request
	firewalls map[string]*compute.Firewall
	instances map[string]*compute.Instance
	ops       map[string]*fakeOp
	nextID    uint64
	failCalls []failure
	failOps   map[string]*compute.OperationErrorErrors
}

type fakeOp struct {
	op    *compute.Operation
	polls int
}

type failure struct {
	match   string // "METHOD path-suffix" for GCE, the action for AWS
	code    int
	errCode string
	message string
}

// NewGCE starts a fake Compute Engine; it stops when the test ends.
func NewGCE(t interface {
	Cleanup(func())
}) *GCE {
	g := &GCE{
		PendingPolls: 1,
		firewalls:    map[string]*compute.Firewall{},
		instances:    map[string]*compute.Instance{},
		ops:          map[string]*fakeOp{},
		failOps:      map[string]*compute.OperationErrorErrors{},
	}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

// Endpoint is the base path to give the client (option.WithEndpoint).
func (g *GCE) Endpoint() string { return g.srv.URL + "/compute/v1/" }

// FailCall makes the next request whose "METHOD path" ends with match
// answer with an HTTP error.
func (g *GCE) FailCall(match string, code int, message string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failCalls = append(g.failCalls, failure{match: match, code: code, message: message})
}

// FailOperation makes the next operation on the resource named target end
// DONE with an error (and change nothing), as a quota or permission problem
// found after the call was accepted does.
func (g *GCE) FailOperation(target, code, message string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failOps[target] = &compute.OperationErrorErrors{Code: code, Message: message}
}

// Requests returns the requests received so far.
func (g *GCE) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Request(nil), g.requests...)
}

// Mutations returns the actions of the requests that change something
// (anything but GET), in order.
func (g *GCE) Mutations() []string {
	var out []string
	for _, r := range g.Requests() {
		if r.Method != http.MethodGet {
			out = append(out, r.Action)
		}
	}
	return out
}

// FirewallRequests decodes the body of every firewall insert, update and
// patch received, in order.
func (g *GCE) FirewallRequests() ([]*compute.Firewall, error) {
	var out []*compute.Firewall
	for _, r := range g.Requests() {
		if r.Method == http.MethodGet || r.Method == http.MethodDelete || !strings.Contains(r.Path, "/global/firewalls") {
			continue
		}
		fw := new(compute.Firewall)
		if err := json.Unmarshal(r.Body, fw); err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
		}
		out = append(out, fw)
	}
	return out, nil
}

// Firewall returns the stored firewall called name, or nil.
func (g *GCE) Firewall(name string) *compute.Firewall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.firewalls[name]
}

// PutFirewall stores fw as if it had been created earlier (by hand).
func (g *GCE) PutFirewall(project string, fw *compute.Firewall) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.storeFirewall(project, fw)
}

// Instance returns the stored instance, or nil.
func (g *GCE) Instance(zone, name string) *compute.Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.instances[zone+"/"+name]
}

func (g *GCE) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	// /compute/v1/projects/P/<rest>
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/compute/v1/projects/"), "/", 2)
	if len(parts) != 2 {
		gceError(w, http.StatusNotFound, "no such path "+r.URL.Path)
		return
	}
	project, rest := parts[0], parts[1]
	action := r.Method + " " + rest
	g.requests = append(g.requests, Request{Method: r.Method, Path: r.URL.Path, Body: body, Action: action})
	for i, f := range g.failCalls {
		if strings.HasSuffix(action, f.match) {
			g.failCalls = append(g.failCalls[:i], g.failCalls[i+1:]...)
			gceError(w, f.code, f.message)
			return
		}
	}
	seg := strings.Split(rest, "/")
	switch {
	case len(seg) == 3 && seg[0] == "global" && seg[1] == "operations" && r.Method == http.MethodGet:
		g.getOp(w, seg[2])
	case len(seg) == 4 && seg[0] == "zones" && seg[2] == "operations" && r.Method == http.MethodGet:
		g.getOp(w, seg[3])
	case len(seg) >= 2 && seg[0] == "global" && seg[1] == "firewalls":
		g.serveFirewall(w, r.Method, project, seg[2:], body)
	case len(seg) >= 3 && seg[0] == "zones" && seg[2] == "instances":
		g.serveInstance(w, r.Method, project, seg[1], seg[3:], body)
	default:
		gceError(w, http.StatusNotFound, "the fake does not serve "+action)
	}
}

func (g *GCE) serveFirewall(w http.ResponseWriter, method, project string, seg []string, body []byte) {
	name := ""
	if len(seg) == 1 {
		name = seg[0]
	}
	fw := new(compute.Firewall)
	if len(body) > 0 {
		if err := json.Unmarshal(body, fw); err != nil {
			gceError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
	}
	link := computeURL + "projects/" + project + "/global/firewalls/"
	switch {
	case method == http.MethodGet && name != "":
		if have := g.firewalls[name]; have != nil {
			writeJSON(w, have)
			return
		}
		gceError(w, http.StatusNotFound, fmt.Sprintf("The resource 'projects/%s/global/firewalls/%s' was not found", project, name))
	case method == http.MethodPost && name == "":
		if fw.Name == "" {
			gceError(w, http.StatusBadRequest, "Invalid value for field 'resource.name': ''. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
			return
		}
		if g.firewalls[fw.Name] != nil {
			gceError(w, http.StatusConflict, fmt.Sprintf("The resource 'projects/%s/global/firewalls/%s' already exists", project, fw.Name))
			return
		}
		g.startOp(w, project, "", "insert", link+fw.Name, func() { g.storeFirewall(project, fw) })
	case (method == http.MethodPut || method == http.MethodPatch) && name != "":
		have := g.firewalls[name]
		if have == nil {
			gceError(w, http.StatusNotFound, fmt.Sprintf("The resource 'projects/%s/global/firewalls/%s' was not found", project, name))
			return
		}
		g.startOp(w, project, "", strings.ToLower(method), link+name, func() {
			if method == http.MethodPatch {
				merged := *have
				json.Unmarshal(body, &merged)
				fw = &merged
			}
			fw.Name = name
			g.storeFirewall(project, fw)
		})
	case method == http.MethodDelete && name != "":
		if g.firewalls[name] == nil {
			gceError(w, http.StatusNotFound, fmt.Sprintf("The resource 'projects/%s/global/firewalls/%s' was not found", project, name))
			return
		}
		g.startOp(w, project, "", "delete", link+name, func() { delete(g.firewalls, name) })
	default:
		gceError(w, http.StatusNotFound, "the fake does not serve "+method+" firewalls/"+strings.Join(seg, "/"))
	}
}

func (g *GCE) storeFirewall(project string, fw *compute.Firewall) {
	g.nextID++
	fw.Id = g.nextID
	fw.Kind = "compute#firewall"
	fw.SelfLink = computeURL + "projects/" + project + "/global/firewalls/" + fw.Name
	if fw.Network != "" && !strings.HasPrefix(fw.Network, "https://") {
		fw.Network = computeURL + "projects/" + project + "/" + strings.TrimPrefix(fw.Network, "projects/"+project+"/")
	}
	if fw.Direction == "" {
		fw.Direction = "INGRESS"
	}
	if fw.Priority == 0 {
		fw.Priority = 1000
	}
	fw.ForceSendFields = nil
	g.firewalls[fw.Name] = fw
}

func (g *GCE) serveInstance(w http.ResponseWriter, method, project, zone string, seg []string, body []byte) {
	link := computeURL + "projects/" + project + "/zones/" + zone + "/instances/"
	notFound := func(name string) {
		gceError(w, http.StatusNotFound, fmt.Sprintf("The resource 'projects/%s/zones/%s/instances/%s' was not found", project, zone, name))
	}
	switch {
	case method == http.MethodGet && len(seg) == 1:
		if in := g.instances[zone+"/"+seg[0]]; in != nil {
			writeJSON(w, in)
			return
		}
		notFound(seg[0])
	case method == http.MethodPost && len(seg) == 0:
		in := new(compute.Instance)
		if err := json.Unmarshal(body, in); err != nil {
			gceError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
		if g.instances[zone+"/"+in.Name] != nil {
			gceError(w, http.StatusConflict, fmt.Sprintf("The resource 'projects/%s/zones/%s/instances/%s' already exists", project, zone, in.Name))
			return
		}
		g.startOp(w, project, zone, "insert", link+in.Name, func() { g.storeInstance(project, zone, in) })
	case method == http.MethodDelete && len(seg) == 1:
		if g.instances[zone+"/"+seg[0]] == nil {
			notFound(seg[0])
			return
		}
		g.startOp(w, project, zone, "delete", link+seg[0], func() { delete(g.instances, zone+"/"+seg[0]) })
	case method == http.MethodPost && len(seg) == 2 && (seg[1] == "setMetadata" || seg[1] == "setTags"):
		in := g.instances[zone+"/"+seg[0]]
		if in == nil {
			notFound(seg[0])
			return
		}
		// Both calls replace a field guarded by its fingerprint: a stale
		// fingerprint (someone changed it since the read) is refused.
		var err error
		var sent, current string
		var apply func(fingerprint string)
		if seg[1] == "setMetadata" {
			md := new(compute.Metadata)
			err = json.Unmarshal(body, md)
			sent, current = md.Fingerprint, in.Metadata.Fingerprint
			apply = func(fp string) { md.Fingerprint = fp; in.Metadata = md }
		} else {
			tags := new(compute.Tags)
			err = json.Unmarshal(body, tags)
			sent, current = tags.Fingerprint, in.Tags.Fingerprint
			apply = func(fp string) { tags.Fingerprint = fp; in.Tags = tags }
		}
		if err != nil {
			gceError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
		if sent != current {
			gceError(w, http.StatusPreconditionFailed, "Supplied fingerprint does not match current "+strings.TrimPrefix(seg[1], "set")+" fingerprint.")
			return
		}
		g.startOp(w, project, zone, seg[1], link+seg[0], func() { apply(g.fingerprint()) })
	default:
		gceError(w, http.StatusNotFound, "the fake does not serve "+method+" instances/"+strings.Join(seg, "/"))
	}
}

// storeInstance keeps in as the API would return it: full URLs, a status,
// an external address, fingerprints, the default service account resolved.
func (g *GCE) storeInstance(project, zone string, in *compute.Instance) {
	g.nextID++
	in.Id = g.nextID
	in.Kind = "compute#instance"
	in.Status = "RUNNING"
	in.Zone = computeURL + "projects/" + project + "/zones/" + zone
	in.SelfLink = in.Zone + "/instances/" + in.Name
	if !strings.HasPrefix(in.MachineType, "https://") {
		in.MachineType = computeURL + "projects/" + project + "/" + in.MachineType
	}
	for _, ni := range in.NetworkInterfaces {
		if !strings.HasPrefix(ni.Network, "https://") {
			ni.Network = computeURL + "projects/" + project + "/" + ni.Network
		}
		ni.NetworkIP = "10.128.0.2"
		for _, ac := range ni.AccessConfigs {
			ac.NatIP = "203.0.113.10"
		}
	}
	for _, sa := range in.ServiceAccounts {
		if sa.Email == "default" {
			sa.Email = "123456789-compute@developer.gserviceaccount.com"
		}
	}
	if in.Metadata == nil {
		in.Metadata = &compute.Metadata{}
	}
	in.Metadata.Fingerprint = g.fingerprint()
	if in.Tags == nil {
		in.Tags = &compute.Tags{}
	}
	in.Tags.Fingerprint = g.fingerprint()
	g.instances[zone+"/"+in.Name] = in
}

func (g *GCE) fingerprint() string {
	g.nextID++
	return fmt.Sprintf("fp-%d", g.nextID)
}

// startOp answers a mutation with a RUNNING operation; apply runs at once
// unless the operation was told to fail.
func (g *GCE) startOp(w http.ResponseWriter, project, zone, kind, target string, apply func()) {
	g.nextID++
	op := &compute.Operation{
		Kind: "compute#operation", Id: g.nextID, Name: fmt.Sprintf("operation-%d", g.nextID),
		OperationType: kind, TargetLink: target, Status: "RUNNING", Progress: 0,
	}
	if zone != "" {
		op.Zone = computeURL + "projects/" + project + "/zones/" + zone
		op.SelfLink = op.Zone + "/operations/" + op.Name
	} else {
		op.SelfLink = computeURL + "projects/" + project + "/global/operations/" + op.Name
	}
	if e := g.failOps[path.Base(target)]; e != nil {
		delete(g.failOps, path.Base(target))
		op.Error = &compute.OperationError{Errors: []*compute.OperationErrorErrors{e}}
	} else {
		apply()
	}
	if g.PendingPolls == 0 {
		op.Status, op.Progress = "DONE", 100
	}
	g.ops[op.Name] = &fakeOp{op: op}
	writeJSON(w, op)
}

func (g *GCE) getOp(w http.ResponseWriter, name string) {
	o := g.ops[name]
	if o == nil {
		gceError(w, http.StatusNotFound, "The resource 'operations/"+name+"' was not found")
		return
	}
	o.polls++
	if o.polls >= g.PendingPolls {
		o.op.Status, o.op.Progress = "DONE", 100
	}
	writeJSON(w, o.op)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

// gceError writes an error the way Google APIs do, which googleapi.Error
// parses (code, message, errors[].reason).
func gceError(w http.ResponseWriter, code int, message string) {
	reason := map[int]string{400: "invalid", 403: "forbidden", 404: "notFound", 409: "alreadyExists", 412: "conditionNotMet"}[code]
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"errors": []map[string]string{{"domain": "global", "reason": reason, "message": message}},
	}})
}
