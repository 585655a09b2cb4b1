package fakecloud

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// API versions, which tell the three query APIs apart on one endpoint.
const (
	ec2Version = "2016-11-15"
	elbVersion = "2015-12-01"
	asgVersion = "2011-01-01"
)

var namespaces = map[string]string{
	ec2Version: "http://ec2.amazonaws.com/doc/2016-11-15/",
	elbVersion: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
	asgVersion: "http://autoscaling.amazonaws.com/doc/2011-01-01/",
}

// AWS is a fake EC2 + ELBv2 + Auto Scaling endpoint: point all three SDK
// clients at URL (BaseEndpoint). It keeps security groups, launch
// templates, target groups, load balancers, listeners and auto-scaling
// groups.
type AWS struct {
	srv *httptest.Server

	mu        sync.Mutex
	requests  []Request
	fails     []failure
	next      int
	groups    []*fakeSG
	templates map[string]*fakeLT
	tgs       map[string]*fakeTG
	lbs       map[string]*fakeLB
	listeners []*fakeListener
	asgs      map[string]*fakeASG
	refreshes int
}

type fakeSG struct {
	id, name, vpc, description string
	perms                      []ec2types.IpPermission // one source each
}

type fakeLT struct {
	id       string
	versions []url.Values // the LaunchTemplateData.* parameters of each version
}

type fakeTG struct {
	arn, name, protocol, vpc, path, matcher, targetType string
	port, interval, healthy, unhealthy                  string
}

type fakeLB struct {
	arn, name, dns, scheme, typ string
	sgs, subnets                []string
}

type fakeListener struct {
	arn, lb, port, protocol, sslPolicy string
	certs                              []string
	actions                            []url.Values // Type, TargetGroupArn, RedirectConfig.*
}

type fakeASG struct {
	name, ltName, ltVersion, min, max, desired, subnets, hcType, grace string
	tgs                                                                []string
}

// NewAWS starts a fake AWS endpoint; it stops when the test ends.
func NewAWS(t interface{ Cleanup(func()) }) *AWS {
	a := &AWS{
		templates: map[string]*fakeLT{}, tgs: map[string]*fakeTG{},
		lbs: map[string]*fakeLB{}, asgs: map[string]*fakeASG{},
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

// URL is the endpoint to give the SDK (aws.Config.BaseEndpoint).
func (a *AWS) URL() string { return a.srv.URL }

// Fail makes the next call of action answer with an API error.
func (a *AWS) Fail(action, code, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fails = append(a.fails, failure{match: action, code: http.StatusBadRequest, errCode: code, message: message})
}

// Requests returns the requests received so far.
func (a *AWS) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

// Actions returns the actions called so far, in order.
func (a *AWS) Actions() []string {
	var out []string
	for _, r := range a.Requests() {
		out = append(out, r.Action)
	}
	return out
}

// IngressRequest is one AuthorizeSecurityGroupIngress or
// RevokeSecurityGroupIngress call, decoded from its form.
type IngressRequest struct {
	Action, GroupID string
	Permissions     []ec2types.IpPermission
}

// IngressRequests decodes every ingress authorization and revocation
// received, in order.
func (a *AWS) IngressRequests() []IngressRequest {
	var out []IngressRequest
	for _, r := range a.Requests() {
		if r.Action == "AuthorizeSecurityGroupIngress" || r.Action == "RevokeSecurityGroupIngress" {
			f := url.Values(r.Form)
			out = append(out, IngressRequest{Action: r.Action, GroupID: f.Get("GroupId"), Permissions: ParsePermissions(f, "IpPermissions")})
		}
	}
	return out
}

// ParsePermissions decodes the ec2Query form of a list of IpPermission
// (prefix.N.IpProtocol, prefix.N.IpRanges.M.CidrIp, prefix.N.Groups.M.GroupId,
// …) into one IpPermission per source.
func ParsePermissions(f url.Values, prefix string) []ec2types.IpPermission {
	var perms []ec2types.IpPermission
	for _, p := range items(f, prefix) {
		base := ec2types.IpPermission{IpProtocol: awssdk.String(f.Get(p + ".IpProtocol"))}
		if v := f.Get(p + ".FromPort"); v != "" {
			n, _ := strconv.Atoi(v)
			base.FromPort = awssdk.Int32(int32(n))
		}
		if v := f.Get(p + ".ToPort"); v != "" {
			n, _ := strconv.Atoi(v)
			base.ToPort = awssdk.Int32(int32(n))
		}
		for _, s := range items(f, p+".IpRanges") {
			base.IpRanges = append(base.IpRanges, ec2types.IpRange{CidrIp: awssdk.String(f.Get(s + ".CidrIp"))})
		}
		for _, s := range items(f, p+".Ipv6Ranges") {
			base.Ipv6Ranges = append(base.Ipv6Ranges, ec2types.Ipv6Range{CidrIpv6: awssdk.String(f.Get(s + ".CidrIpv6"))})
		}
		for _, s := range items(f, p+".Groups") {
			base.UserIdGroupPairs = append(base.UserIdGroupPairs, ec2types.UserIdGroupPair{GroupId: awssdk.String(f.Get(s + ".GroupId"))})
		}
		for _, s := range items(f, p+".PrefixListIds") {
			base.PrefixListIds = append(base.PrefixListIds, ec2types.PrefixListId{PrefixListId: awssdk.String(f.Get(s + ".PrefixListId"))})
		}
		perms = append(perms, splitPermission(base)...)
	}
	return perms
}

// items returns the prefixes of the elements of a query list:
// "P.1", "P.2", … (ec2Query) or "P.member.1", … (awsQuery).
func items(f url.Values, prefix string) []string {
	var out []string
	for _, sep := range []string{".", ".member."} {
		for i := 1; ; i++ {
			p := prefix + sep + strconv.Itoa(i)
			found := false
			for k := range f {
				if k == p || strings.HasPrefix(k, p+".") {
					found = true
					break
				}
			}
			if !found {
				break
			}
			out = append(out, p)
		}
	}
	return out
}

// values returns the string elements of a query list.
func values(f url.Values, prefix string) []string {
	var out []string
	for _, p := range items(f, prefix) {
		out = append(out, f.Get(p))
	}
	return out
}

// SecurityGroup returns a stored group by name, as IpPermissions, or nil.
func (a *AWS) SecurityGroup(name string) []ec2types.IpPermission {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range a.groups {
		if g.name == name {
			return slices.Clone(g.perms)
		}
	}
	return nil
}

// AddSecurityGroup stores a group made elsewhere (the database's, one
// made by hand) and returns its id.
func (a *AWS) AddSecurityGroup(name, vpc string, perms ...ec2types.IpPermission) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	g := &fakeSG{id: a.newID("sg-"), name: name, vpc: vpc, description: name}
	for _, p := range perms {
		g.perms = append(g.perms, splitPermission(p)...)
	}
	a.groups = append(a.groups, g)
	return g.id
}

// AddPermission adds ingress to the group called name, as a person in the
// console would.
func (a *AWS) AddPermission(name string, p ec2types.IpPermission) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range a.groups {
		if g.name == name {
			g.perms = append(g.perms, splitPermission(p)...)
		}
	}
}

// SetASGSize changes an auto-scaling group's sizes (as a person would).
func (a *AWS) SetASGSize(name string, min, max int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asgs[name].min, a.asgs[name].max = strconv.Itoa(min), strconv.Itoa(max)
}

// Refreshes counts StartInstanceRefresh calls.
func (a *AWS) Refreshes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refreshes
}

func (a *AWS) newID(prefix string) string {
	a.next++
	return fmt.Sprintf("%s%017x", prefix, a.next)
}

// splitPermission returns p as one permission per source, the way the fake
// stores rules.
func splitPermission(p ec2types.IpPermission) []ec2types.IpPermission {
	var out []ec2types.IpPermission
	base := p
	base.IpRanges, base.Ipv6Ranges, base.UserIdGroupPairs, base.PrefixListIds = nil, nil, nil, nil
	with := func(set func(*ec2types.IpPermission)) {
		y := base
		set(&y)
		out = append(out, y)
	}
	for _, x := range p.IpRanges {
		with(func(y *ec2types.IpPermission) { y.IpRanges = []ec2types.IpRange{x} })
	}
	for _, x := range p.Ipv6Ranges {
		with(func(y *ec2types.IpPermission) { y.Ipv6Ranges = []ec2types.Ipv6Range{x} })
	}
	for _, x := range p.UserIdGroupPairs {
		with(func(y *ec2types.IpPermission) { y.UserIdGroupPairs = []ec2types.UserIdGroupPair{x} })
	}
	for _, x := range p.PrefixListIds {
		with(func(y *ec2types.IpPermission) { y.PrefixListIds = []ec2types.PrefixListId{x} })
	}
	return out
}

func permKey(p ec2types.IpPermission) string {
	src := ""
	switch {
	case len(p.IpRanges) > 0:
		src = awssdk.ToString(p.IpRanges[0].CidrIp)
	case len(p.Ipv6Ranges) > 0:
		src = awssdk.ToString(p.Ipv6Ranges[0].CidrIpv6)
	case len(p.UserIdGroupPairs) > 0:
		src = awssdk.ToString(p.UserIdGroupPairs[0].GroupId)
	case len(p.PrefixListIds) > 0:
		src = awssdk.ToString(p.PrefixListIds[0].PrefixListId)
	}
	return fmt.Sprintf("%s/%d/%d/%s", awssdk.ToString(p.IpProtocol), awssdk.ToInt32(p.FromPort), awssdk.ToInt32(p.ToPort), src)
}

// apiError is an error answer of either protocol.
type apiError struct{ code, message string }

func (a *AWS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "want a form-encoded POST", http.StatusBadRequest)
		return
	}
	action, version := f.Get("Action"), f.Get("Version")
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, Request{Method: r.Method, Path: r.URL.Path, Body: body, Action: action, Form: f})
	ns, ok := namespaces[version]
	if !ok {
		http.Error(w, "unknown API version "+version, http.StatusBadRequest)
		return
	}
	for i, fl := range a.fails {
		if fl.match == action {
			a.fails = append(a.fails[:i], a.fails[i+1:]...)
			writeAWSError(w, version, apiError{fl.errCode, fl.message})
			return
		}
	}
	var x xmlOut
	var aerr *apiError
	switch version {
	case ec2Version:
		aerr = a.ec2(action, f, &x)
	case elbVersion:
		aerr = a.elb(action, f, &x)
	case asgVersion:
		aerr = a.asg(action, f, &x)
	}
	if aerr != nil {
		writeAWSError(w, version, *aerr)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	if version == ec2Version {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="%s"><requestId>req-1</requestId>%s</%sResponse>`, action, ns, x.String(), action)
		return
	}
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, action, x.String(), action, action)
}

func writeAWSError(w http.ResponseWriter, version string, e apiError) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	if version == ec2Version {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>req-1</RequestID></Response>`,
			html.EscapeString(e.code), html.EscapeString(e.message))
		return
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`,
		namespaces[version], html.EscapeString(e.code), html.EscapeString(e.message))
}

// xmlOut writes the body of a response.
type xmlOut struct{ strings.Builder }

func (x *xmlOut) el(name string, inner func()) {
	x.WriteString("<" + name + ">")
	inner()
	x.WriteString("</" + name + ">")
}

func (x *xmlOut) text(name, v string) {
	if v != "" {
		x.WriteString("<" + name + ">" + html.EscapeString(v) + "</" + name + ">")
	}
}

// list writes name with one child element (item or member) per value.
func (x *xmlOut) list(name, child string, vs []string) {
	x.el(name, func() {
		for _, v := range vs {
			x.text(child, v)
		}
	})
}

func notFound(code, message string) *apiError { return &apiError{code, message} }

// --- EC2 ---

func (a *AWS) ec2(action string, f url.Values, x *xmlOut) *apiError {
	switch action {
	case "DescribeSecurityGroups":
		ids := values(f, "GroupId")
		filters := map[string][]string{}
		for _, p := range items(f, "Filter") {
			filters[f.Get(p+".Name")] = values(f, p+".Value")
		}
		x.el("securityGroupInfo", func() {
			for _, g := range a.groups {
				if len(ids) > 0 && !slices.Contains(ids, g.id) ||
					filters["vpc-id"] != nil && !slices.Contains(filters["vpc-id"], g.vpc) ||
					filters["group-name"] != nil && !slices.Contains(filters["group-name"], g.name) {
					continue
				}
				x.el("item", func() { writeSG(x, g) })
			}
		})
		for _, id := range ids {
			if a.group(id) == nil {
				return notFound("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", id))
			}
		}
	case "CreateSecurityGroup":
		name, vpc := f.Get("GroupName"), f.Get("VpcId")
		for _, g := range a.groups {
			if g.name == name && g.vpc == vpc {
				return &apiError{"InvalidGroup.Duplicate", fmt.Sprintf("The security group '%s' already exists for VPC '%s'", name, vpc)}
			}
		}
		if f.Get("GroupDescription") == "" {
			return &apiError{"MissingParameter", "The request must contain the parameter GroupDescription"}
		}
		g := &fakeSG{id: a.newID("sg-"), name: name, vpc: vpc, description: f.Get("GroupDescription")}
		a.groups = append(a.groups, g)
		x.text("return", "true")
		x.text("groupId", g.id)
	case "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress":
		g := a.group(f.Get("GroupId"))
		if g == nil {
			return notFound("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", f.Get("GroupId")))
		}
		perms := ParsePermissions(f, "IpPermissions")
		if len(perms) == 0 {
			return &apiError{"MissingParameter", "No permissions given"}
		}
		for _, p := range perms {
			if p.UserIdGroupPairs != nil && a.group(awssdk.ToString(p.UserIdGroupPairs[0].GroupId)) == nil {
				return notFound("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", awssdk.ToString(p.UserIdGroupPairs[0].GroupId)))
			}
			i := slices.IndexFunc(g.perms, func(q ec2types.IpPermission) bool { return permKey(q) == permKey(p) })
			switch {
			case action == "AuthorizeSecurityGroupIngress" && i >= 0:
				return &apiError{"InvalidPermission.Duplicate", "the specified rule " + permKey(p) + " already exists"}
			case action == "AuthorizeSecurityGroupIngress":
				g.perms = append(g.perms, p)
			case i < 0:
				return &apiError{"InvalidPermission.NotFound", "The specified rule does not exist in this security group."}
			default:
				g.perms = slices.Delete(g.perms, i, i+1)
			}
		}
		x.text("return", "true")
	case "DescribeLaunchTemplates":
		names := values(f, "LaunchTemplateName")
		for _, n := range names {
			if a.templates[n] == nil {
				return notFound("InvalidLaunchTemplateName.NotFoundException", "At least one of the launch templates specified in the request does not exist.")
			}
		}
		x.el("launchTemplates", func() {
			for _, n := range names {
				x.el("item", func() { writeLT(x, n, a.templates[n]) })
			}
		})
	case "DescribeLaunchTemplateVersions":
		n := f.Get("LaunchTemplateName")
		lt := a.templates[n]
		if lt == nil {
			return notFound("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name "+n+", does not exist.")
		}
		if v := values(f, "LaunchTemplateVersion"); !slices.Equal(v, []string{"$Latest"}) {
			return &apiError{"InvalidParameterValue", "the fake serves only $Latest, asked for " + strings.Join(v, ",")}
		}
		x.el("launchTemplateVersionSet", func() {
			x.el("item", func() { writeLTVersion(x, n, lt, len(lt.versions)) })
		})
	case "CreateLaunchTemplate":
		n := f.Get("LaunchTemplateName")
		if a.templates[n] != nil {
			return &apiError{"InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use."}
		}
		lt := &fakeLT{id: a.newID("lt-"), versions: []url.Values{templateData(f)}}
		a.templates[n] = lt
		x.el("launchTemplate", func() { writeLT(x, n, lt) })
	case "CreateLaunchTemplateVersion":
		n := f.Get("LaunchTemplateName")
		lt := a.templates[n]
		if lt == nil {
			return notFound("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name "+n+", does not exist.")
		}
		lt.versions = append(lt.versions, templateData(f))
		x.el("launchTemplateVersion", func() { writeLTVersion(x, n, lt, len(lt.versions)) })
	default:
		return &apiError{"InvalidAction", "the fake does not serve EC2 " + action}
	}
	return nil
}

func (a *AWS) group(id string) *fakeSG {
	for _, g := range a.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

func writeSG(x *xmlOut, g *fakeSG) {
	x.text("ownerId", "123456789012")
	x.text("groupId", g.id)
	x.text("groupName", g.name)
	x.text("groupDescription", g.description)
	x.text("vpcId", g.vpc)
	x.el("ipPermissions", func() {
		for _, p := range g.perms {
			x.el("item", func() {
				x.text("ipProtocol", awssdk.ToString(p.IpProtocol))
				if p.FromPort != nil {
					x.text("fromPort", strconv.Itoa(int(*p.FromPort)))
					x.text("toPort", strconv.Itoa(int(*p.ToPort)))
				}
				x.el("ipRanges", func() {
					for _, r := range p.IpRanges {
						x.el("item", func() { x.text("cidrIp", awssdk.ToString(r.CidrIp)) })
					}
				})
				x.el("ipv6Ranges", func() {
					for _, r := range p.Ipv6Ranges {
						x.el("item", func() { x.text("cidrIpv6", awssdk.ToString(r.CidrIpv6)) })
					}
				})
				x.el("groups", func() {
					for _, r := range p.UserIdGroupPairs {
						x.el("item", func() { x.text("groupId", awssdk.ToString(r.GroupId)); x.text("userId", "123456789012") })
					}
				})
				x.el("prefixListIds", func() {
					for _, r := range p.PrefixListIds {
						x.el("item", func() { x.text("prefixListId", awssdk.ToString(r.PrefixListId)) })
					}
				})
			})
		}
	})
	x.el("ipPermissionsEgress", func() {
		x.el("item", func() {
			x.text("ipProtocol", "-1")
			x.el("ipRanges", func() { x.el("item", func() { x.text("cidrIp", "0.0.0.0/0") }) })
		})
	})
}

// templateData keeps a request's LaunchTemplateData.* parameters, without
// the prefix.
func templateData(f url.Values) url.Values {
	d := url.Values{}
	for k, v := range f {
		if rest, ok := strings.CutPrefix(k, "LaunchTemplateData."); ok {
			d[rest] = v
		}
	}
	return d
}

func writeLT(x *xmlOut, name string, lt *fakeLT) {
	x.text("launchTemplateId", lt.id)
	x.text("launchTemplateName", name)
	x.text("defaultVersionNumber", "1")
	x.text("latestVersionNumber", strconv.Itoa(len(lt.versions)))
}

func writeLTVersion(x *xmlOut, name string, lt *fakeLT, version int) {
	d := lt.versions[version-1]
	x.text("launchTemplateId", lt.id)
	x.text("launchTemplateName", name)
	x.text("versionNumber", strconv.Itoa(version))
	x.el("launchTemplateData", func() {
		x.text("imageId", d.Get("ImageId"))
		x.text("instanceType", d.Get("InstanceType"))
		x.el("iamInstanceProfile", func() {
			x.text("name", d.Get("IamInstanceProfile.Name"))
			x.text("arn", d.Get("IamInstanceProfile.Arn"))
		})
		x.list("securityGroupIdSet", "item", values(d, "SecurityGroupId"))
		x.text("userData", d.Get("UserData"))
		x.el("metadataOptions", func() {
			x.text("httpTokens", d.Get("MetadataOptions.HttpTokens"))
			x.text("httpEndpoint", d.Get("MetadataOptions.HttpEndpoint"))
			x.text("httpPutResponseHopLimit", d.Get("MetadataOptions.HttpPutResponseHopLimit"))
		})
	})
}

// TemplateData returns the LaunchTemplateData parameters of a launch
// template's latest version as the fake received them, or nil.
func (a *AWS) TemplateData(name string) url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	lt := a.templates[name]
	if lt == nil {
		return nil
	}
	return lt.versions[len(lt.versions)-1]
}

// TargetGroupARN returns the ARN of the target group called name, or "".
func (a *AWS) TargetGroupARN(name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if tg := a.tgs[name]; tg != nil {
		return tg.arn
	}
	return ""
}

// --- ELBv2 ---

func (a *AWS) elb(action string, f url.Values, x *xmlOut) *apiError {
	switch action {
	case "DescribeTargetGroups":
		return describeNamed(x, values(f, "Names"), a.tgs, "TargetGroups", writeTG,
			notFound("TargetGroupNotFound", "One or more target groups not found"))
	case "CreateTargetGroup":
		n := f.Get("Name")
		if a.tgs[n] != nil {
			return &apiError{"DuplicateTargetGroupName", "A target group with the same name '" + n + "' exists, but with different settings"}
		}
		tg := &fakeTG{
			arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/" + n + "/" + a.newID(""), name: n,
			protocol: f.Get("Protocol"), port: f.Get("Port"), vpc: f.Get("VpcId"), targetType: f.Get("TargetType"),
		}
		setHealth(tg, f)
		a.tgs[n] = tg
		x.el("TargetGroups", func() { x.el("member", func() { writeTG(x, tg) }) })
	case "ModifyTargetGroup":
		tg := a.tgByARN(f.Get("TargetGroupArn"))
		if tg == nil {
			return notFound("TargetGroupNotFound", "One or more target groups not found")
		}
		setHealth(tg, f)
		x.el("TargetGroups", func() { x.el("member", func() { writeTG(x, tg) }) })
	case "DescribeLoadBalancers":
		return describeNamed(x, values(f, "Names"), a.lbs, "LoadBalancers", writeLB,
			notFound("LoadBalancerNotFound", "Load balancers '"+strings.Join(values(f, "Names"), ",")+"' not found"))
	case "CreateLoadBalancer":
		n := f.Get("Name")
		if a.lbs[n] != nil {
			return &apiError{"DuplicateLoadBalancerName", "A load balancer with the same name '" + n + "' exists, but with different settings"}
		}
		lb := &fakeLB{
			arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/" + n + "/" + a.newID(""), name: n,
			dns: n + "-1234567890.eu-west-1.elb.amazonaws.com", scheme: f.Get("Scheme"), typ: f.Get("Type"),
			sgs: values(f, "SecurityGroups"), subnets: values(f, "Subnets"),
		}
		for _, sg := range lb.sgs {
			if a.group(sg) == nil {
				return notFound("InvalidSecurityGroup", "Security group '"+sg+"' does not exist")
			}
		}
		a.lbs[n] = lb
		x.el("LoadBalancers", func() { x.el("member", func() { writeLB(x, lb) }) })
	case "SetSecurityGroups":
		lb := a.lbByARN(f.Get("LoadBalancerArn"))
		if lb == nil {
			return notFound("LoadBalancerNotFound", "Load balancer not found")
		}
		lb.sgs = values(f, "SecurityGroups")
		x.list("SecurityGroupIds", "member", lb.sgs)
	case "SetSubnets":
		lb := a.lbByARN(f.Get("LoadBalancerArn"))
		if lb == nil {
			return notFound("LoadBalancerNotFound", "Load balancer not found")
		}
		lb.subnets = values(f, "Subnets")
		x.el("AvailabilityZones", func() {})
	case "DescribeListeners":
		x.el("Listeners", func() {
			for _, l := range a.listeners {
				if l.lb == f.Get("LoadBalancerArn") {
					x.el("member", func() { writeListener(x, l) })
				}
			}
		})
	case "CreateListener":
		if a.lbByARN(f.Get("LoadBalancerArn")) == nil {
			return notFound("LoadBalancerNotFound", "Load balancer '"+f.Get("LoadBalancerArn")+"' not found")
		}
		for _, l := range a.listeners {
			if l.lb == f.Get("LoadBalancerArn") && l.port == f.Get("Port") {
				return &apiError{"DuplicateListener", "A listener already exists on this port for this load balancer"}
			}
		}
		l := &fakeListener{arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/" + a.newID(""), lb: f.Get("LoadBalancerArn")}
		if err := a.setListener(l, f); err != nil {
			return err
		}
		a.listeners = append(a.listeners, l)
		x.el("Listeners", func() { x.el("member", func() { writeListener(x, l) }) })
	case "ModifyListener":
		i := slices.IndexFunc(a.listeners, func(l *fakeListener) bool { return l.arn == f.Get("ListenerArn") })
		if i < 0 {
			return notFound("ListenerNotFound", "One or more listeners not found")
		}
		if err := a.setListener(a.listeners[i], f); err != nil {
			return err
		}
		x.el("Listeners", func() { x.el("member", func() { writeListener(x, a.listeners[i]) }) })
	case "DeleteListener":
		i := slices.IndexFunc(a.listeners, func(l *fakeListener) bool { return l.arn == f.Get("ListenerArn") })
		if i < 0 {
			return notFound("ListenerNotFound", "One or more listeners not found")
		}
		a.listeners = slices.Delete(a.listeners, i, i+1)
	default:
		return &apiError{"InvalidAction", "the fake does not serve ELBv2 " + action}
	}
	return nil
}

// describeNamed answers an ELBv2 Describe* by names: every named resource,
// or missing when one of them does not exist (as ELBv2 does).
func describeNamed[T any](x *xmlOut, names []string, m map[string]*T, list string, write func(*xmlOut, *T), missing *apiError) *apiError {
	for _, n := range names {
		if m[n] == nil {
			return missing
		}
	}
	x.el(list, func() {
		for _, n := range names {
			x.el("member", func() { write(x, m[n]) })
		}
	})
	return nil
}

func setHealth(tg *fakeTG, f url.Values) {
	tg.path = f.Get("HealthCheckPath")
	tg.interval = f.Get("HealthCheckIntervalSeconds")
	tg.healthy = f.Get("HealthyThresholdCount")
	tg.unhealthy = f.Get("UnhealthyThresholdCount")
	tg.matcher = f.Get("Matcher.HttpCode")
}

func (a *AWS) tgByARN(arn string) *fakeTG {
	return findValue(a.tgs, func(tg *fakeTG) bool { return tg.arn == arn })
}

func (a *AWS) lbByARN(arn string) *fakeLB {
	return findValue(a.lbs, func(lb *fakeLB) bool { return lb.arn == arn })
}

// findValue returns a value of m that matches, or nil.
func findValue[T any](m map[string]*T, match func(*T) bool) *T {
	for _, v := range m {
		if match(v) {
			return v
		}
	}
	return nil
}

func (a *AWS) setListener(l *fakeListener, f url.Values) *apiError {
	l.port, l.protocol, l.sslPolicy = f.Get("Port"), f.Get("Protocol"), f.Get("SslPolicy")
	l.certs = nil
	for _, p := range items(f, "Certificates") {
		l.certs = append(l.certs, f.Get(p+".CertificateArn"))
	}
	if l.protocol == "HTTPS" && len(l.certs) == 0 {
		return &apiError{"CertificateNotFound", "A certificate must be specified for HTTPS listeners"}
	}
	l.actions = nil
	for _, p := range items(f, "DefaultActions") {
		act := url.Values{}
		for k, v := range f {
			if rest, ok := strings.CutPrefix(k, p+"."); ok {
				act[rest] = v
			}
		}
		if tg := act.Get("TargetGroupArn"); tg != "" && a.tgByARN(tg) == nil {
			return notFound("TargetGroupNotFound", "Target group '"+tg+"' not found")
		}
		l.actions = append(l.actions, act)
	}
	return nil
}

func writeTG(x *xmlOut, tg *fakeTG) {
	x.text("TargetGroupArn", tg.arn)
	x.text("TargetGroupName", tg.name)
	x.text("Protocol", tg.protocol)
	x.text("Port", tg.port)
	x.text("VpcId", tg.vpc)
	x.text("HealthCheckProtocol", "HTTP")
	x.text("HealthCheckPath", tg.path)
	x.text("HealthCheckIntervalSeconds", tg.interval)
	x.text("HealthyThresholdCount", tg.healthy)
	x.text("UnhealthyThresholdCount", tg.unhealthy)
	x.text("HealthCheckEnabled", "true")
	x.el("Matcher", func() { x.text("HttpCode", tg.matcher) })
	x.text("TargetType", tg.targetType)
}

func writeLB(x *xmlOut, lb *fakeLB) {
	x.text("LoadBalancerArn", lb.arn)
	x.text("LoadBalancerName", lb.name)
	x.text("DNSName", lb.dns)
	x.text("Scheme", lb.scheme)
	x.text("Type", lb.typ)
	x.el("State", func() { x.text("Code", "active") })
	x.list("SecurityGroups", "member", lb.sgs)
	x.el("AvailabilityZones", func() {
		for i, s := range lb.subnets {
			x.el("member", func() { x.text("SubnetId", s); x.text("ZoneName", fmt.Sprintf("eu-west-1%c", 'a'+i)) })
		}
	})
}

func writeListener(x *xmlOut, l *fakeListener) {
	x.text("ListenerArn", l.arn)
	x.text("LoadBalancerArn", l.lb)
	x.text("Port", l.port)
	x.text("Protocol", l.protocol)
	x.text("SslPolicy", l.sslPolicy)
	x.el("Certificates", func() {
		for _, c := range l.certs {
			x.el("member", func() { x.text("CertificateArn", c) })
		}
	})
	x.el("DefaultActions", func() {
		for _, act := range l.actions {
			x.el("member", func() {
				x.text("Type", act.Get("Type"))
				x.text("TargetGroupArn", act.Get("TargetGroupArn"))
				if act.Get("RedirectConfig.StatusCode") != "" {
					x.el("RedirectConfig", func() {
						x.text("Protocol", act.Get("RedirectConfig.Protocol"))
						x.text("Port", act.Get("RedirectConfig.Port"))
						x.text("StatusCode", act.Get("RedirectConfig.StatusCode"))
					})
				}
			})
		}
	})
}

// --- Auto Scaling ---

func (a *AWS) asg(action string, f url.Values, x *xmlOut) *apiError {
	n := f.Get("AutoScalingGroupName")
	switch action {
	case "DescribeAutoScalingGroups":
		x.el("AutoScalingGroups", func() {
			for _, n := range values(f, "AutoScalingGroupNames") {
				if g := a.asgs[n]; g != nil {
					x.el("member", func() { writeASG(x, g) })
				}
			}
		})
	case "CreateAutoScalingGroup":
		if a.asgs[n] != nil {
			return &apiError{"AlreadyExists", "AutoScalingGroup by this name already exists"}
		}
		if a.templates[f.Get("LaunchTemplate.LaunchTemplateName")] == nil {
			return &apiError{"ValidationError", "You must use a valid fully-formed launch template. The specified launch template does not exist"}
		}
		for _, tg := range values(f, "TargetGroupARNs") {
			if a.tgByARN(tg) == nil {
				return &apiError{"ValidationError", "Provided Target Groups may not be valid: " + tg}
			}
		}
		g := &fakeASG{name: n, desired: f.Get("DesiredCapacity"), tgs: values(f, "TargetGroupARNs")}
		updateASG(g, f)
		a.asgs[n] = g
	case "UpdateAutoScalingGroup":
		g := a.asgs[n]
		if g == nil {
			return &apiError{"ValidationError", "AutoScalingGroup name not found - " + n}
		}
		updateASG(g, f)
	case "AttachLoadBalancerTargetGroups":
		g := a.asgs[n]
		if g == nil {
			return &apiError{"ValidationError", "AutoScalingGroup name not found - " + n}
		}
		g.tgs = append(g.tgs, values(f, "TargetGroupARNs")...)
	case "StartInstanceRefresh":
		if a.asgs[n] == nil {
			return &apiError{"ValidationError", "AutoScalingGroup name not found - " + n}
		}
		a.refreshes++
		x.text("InstanceRefreshId", a.newID("refresh-"))
	default:
		return &apiError{"InvalidAction", "the fake does not serve Auto Scaling " + action}
	}
	return nil
}

// updateASG copies the parameters present in f.
func updateASG(g *fakeASG, f url.Values) {
	set := func(dst *string, key string) {
		if v := f.Get(key); v != "" {
			*dst = v
		}
	}
	set(&g.ltName, "LaunchTemplate.LaunchTemplateName")
	set(&g.ltVersion, "LaunchTemplate.Version")
	set(&g.min, "MinSize")
	set(&g.max, "MaxSize")
	set(&g.subnets, "VPCZoneIdentifier")
	set(&g.hcType, "HealthCheckType")
	set(&g.grace, "HealthCheckGracePeriod")
}

func writeASG(x *xmlOut, g *fakeASG) {
	x.text("AutoScalingGroupName", g.name)
	x.el("LaunchTemplate", func() { x.text("LaunchTemplateName", g.ltName); x.text("Version", g.ltVersion) })
	x.text("MinSize", g.min)
	x.text("MaxSize", g.max)
	x.text("DesiredCapacity", g.desired)
	x.text("DefaultCooldown", "300")
	x.text("VPCZoneIdentifier", g.subnets)
	x.list("TargetGroupARNs", "member", g.tgs)
	x.text("HealthCheckType", g.hcType)
	x.text("HealthCheckGracePeriod", g.grace)
	x.text("CreatedTime", "2026-11-01T12:00:00Z")
}
