package aws

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/datalabhq/datalab/ops/deploy"
)

// Target group health check: /healthz answering 200, checked every 15 s;
// two successes make an instance healthy, three failures unhealthy.
const (
	healthInterval = 15
	healthyCount   = 2
	unhealthyCount = 3
	healthMatcher  = "200"
	targetProtocol = elbtypes.ProtocolEnumHttp
)

func healthFields(path string, interval, healthy, unhealthy int32, matcher string) string {
	return fmt.Sprintf("GET %s → %s every %ds, healthy after %d, unhealthy after %d", path, matcher, interval, healthy, unhealthy)
}

// planTargetGroup creates the target group or brings its health check
// back; its port, protocol and VPC cannot change, so a difference there is
// an error to resolve by hand (delete the group, or use another --name).
func (d *Deployer) planTargetGroup(dep *deploy.Deployment, id *ids, have *elbtypes.TargetGroup) {
	c := d.cfg
	wantHealth := healthFields(c.HealthCheckPath, healthInterval, healthyCount, unhealthyCount, healthMatcher)
	ch := deploy.Change{Action: deploy.Update, Kind: "target-group", Name: c.Name}
	if have == nil {
		ch.Action = deploy.Create
		ch.Set("healthCheck", wantHealth)
		ch.Set("port", "HTTP "+strconv.Itoa(c.AppPort))
		ch.Set("targetType", "instance")
		ch.Set("vpc", c.VPCID)
		dep.Add(ch, func(ctx context.Context) error {
			out, err := d.api.ELB.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{
				Name: awssdk.String(c.Name), Protocol: targetProtocol, Port: awssdk.Int32(int32(c.AppPort)),
				VpcId: awssdk.String(c.VPCID), TargetType: elbtypes.TargetTypeEnumInstance,
				HealthCheckEnabled:         awssdk.Bool(true),
				HealthCheckProtocol:        targetProtocol,
				HealthCheckPath:            awssdk.String(c.HealthCheckPath),
				HealthCheckIntervalSeconds: awssdk.Int32(healthInterval),
				HealthyThresholdCount:      awssdk.Int32(healthyCount),
				UnhealthyThresholdCount:    awssdk.Int32(unhealthyCount),
				Matcher:                    &elbtypes.Matcher{HttpCode: awssdk.String(healthMatcher)},
				Tags:                       elbTags(c),
			})
			if err != nil {
				return err
			}
			if len(out.TargetGroups) == 0 {
				return fmt.Errorf("CreateTargetGroup returned no target group")
			}
			id.targetGroup = awssdk.ToString(out.TargetGroups[0].TargetGroupArn)
			return nil
		})
		return
	}
	matcher := ""
	if have.Matcher != nil {
		matcher = awssdk.ToString(have.Matcher.HttpCode)
	}
	havePort := string(have.Protocol) + " " + strconv.Itoa(int(awssdk.ToInt32(have.Port)))
	if havePort != "HTTP "+strconv.Itoa(c.AppPort) || awssdk.ToString(have.VpcId) != c.VPCID {
		ch.Action, ch.Reason = deploy.Replace, "a target group's port, protocol and VPC cannot change: delete it (and its listeners) by hand, or deploy under another --name"
		ch.Diff("port", havePort, "HTTP "+strconv.Itoa(c.AppPort))
		ch.Diff("vpc", awssdk.ToString(have.VpcId), c.VPCID)
		dep.Add(ch, func(context.Context) error { return fmt.Errorf("not replaced automatically: %s", ch.Reason) })
		return
	}
	ch.Diff("healthCheck", healthFields(awssdk.ToString(have.HealthCheckPath), awssdk.ToInt32(have.HealthCheckIntervalSeconds),
		awssdk.ToInt32(have.HealthyThresholdCount), awssdk.ToInt32(have.UnhealthyThresholdCount), matcher), wantHealth)
	dep.Add(ch, func(ctx context.Context) error {
		_, err := d.api.ELB.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{
			TargetGroupArn:             have.TargetGroupArn,
			HealthCheckEnabled:         awssdk.Bool(true),
			HealthCheckProtocol:        targetProtocol,
			HealthCheckPath:            awssdk.String(c.HealthCheckPath),
			HealthCheckIntervalSeconds: awssdk.Int32(healthInterval),
			HealthyThresholdCount:      awssdk.Int32(healthyCount),
			UnhealthyThresholdCount:    awssdk.Int32(unhealthyCount),
			Matcher:                    &elbtypes.Matcher{HttpCode: awssdk.String(healthMatcher)},
		})
		return err
	})
}

// planLoadBalancer creates the internet-facing ALB in the subnets with the
// ALB security group, or puts its subnets and security groups back.
func (d *Deployer) planLoadBalancer(dep *deploy.Deployment, id *ids, have *elbtypes.LoadBalancer) {
	c := d.cfg
	subnets := sortedJoin(c.SubnetIDs)
	ch := deploy.Change{Action: deploy.Update, Kind: "load-balancer", Name: c.Name}
	if have == nil {
		ch.Action = deploy.Create
		ch.Set("scheme", "internet-facing")
		ch.Set("securityGroups", id.albSG)
		ch.Set("subnets", subnets)
		ch.Set("type", "application")
		dep.Add(ch, func(ctx context.Context) error {
			out, err := d.api.ELB.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
				Name: awssdk.String(c.Name), Type: elbtypes.LoadBalancerTypeEnumApplication,
				Scheme:         elbtypes.LoadBalancerSchemeEnumInternetFacing,
				IpAddressType:  elbtypes.IpAddressTypeIpv4,
				Subnets:        c.SubnetIDs,
				SecurityGroups: []string{id.albSG},
				Tags:           elbTags(c),
			})
			if err != nil {
				return err
			}
			if len(out.LoadBalancers) == 0 {
				return fmt.Errorf("CreateLoadBalancer returned no load balancer")
			}
			id.loadBalancer = awssdk.ToString(out.LoadBalancers[0].LoadBalancerArn)
			dep.URL = "http://" + awssdk.ToString(out.LoadBalancers[0].DNSName) + "/"
			return nil
		})
		return
	}
	var haveSubnets []string
	for _, az := range have.AvailabilityZones {
		haveSubnets = append(haveSubnets, awssdk.ToString(az.SubnetId))
	}
	setSubnets := ch.Diff("subnets", sortedJoin(haveSubnets), subnets)
	setGroups := ch.Diff("securityGroups", sortedJoin(have.SecurityGroups), id.albSG)
	dep.Add(ch, func(ctx context.Context) error {
		if setGroups {
			if _, err := d.api.ELB.SetSecurityGroups(ctx, &elb.SetSecurityGroupsInput{LoadBalancerArn: have.LoadBalancerArn, SecurityGroups: []string{id.albSG}}); err != nil {
				return err
			}
		}
		if setSubnets {
			if _, err := d.api.ELB.SetSubnets(ctx, &elb.SetSubnetsInput{LoadBalancerArn: have.LoadBalancerArn, Subnets: c.SubnetIDs}); err != nil {
				return err
			}
		}
		return nil
	})
}

// listenerSpec is one listener the deployment wants.
type listenerSpec struct {
	port     int32
	protocol elbtypes.ProtocolEnum
	cert     string
	redirect bool // to HTTPS 443, else forward to the target group
}

func (d *Deployer) listeners() []listenerSpec {
	if d.cfg.CertificateARN == "" {
		return []listenerSpec{{port: 80, protocol: elbtypes.ProtocolEnumHttp}}
	}
	return []listenerSpec{
		{port: 80, protocol: elbtypes.ProtocolEnumHttp, redirect: true},
		{port: 443, protocol: elbtypes.ProtocolEnumHttps, cert: d.cfg.CertificateARN},
	}
}

func (l listenerSpec) actions(targetGroup string) []elbtypes.Action {
	if l.redirect {
		return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumRedirect, RedirectConfig: &elbtypes.RedirectActionConfig{
			Protocol: awssdk.String("HTTPS"), Port: awssdk.String("443"), StatusCode: elbtypes.RedirectActionStatusCodeEnumHttp301,
		}}}
	}
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: awssdk.String(targetGroup)}}
}

func (l listenerSpec) certificates() []elbtypes.Certificate {
	if l.cert == "" {
		return nil
	}
	return []elbtypes.Certificate{{CertificateArn: awssdk.String(l.cert)}}
}

func (l listenerSpec) sslPolicy() *string {
	if l.cert == "" {
		return nil
	}
	return awssdk.String(SSLPolicy)
}

// describeListener prints a listener as a plan shows it.
func describeListener(protocol string, actions []elbtypes.Action, certs []elbtypes.Certificate) string {
	s := protocol
	for _, c := range certs {
		s += " cert " + awssdk.ToString(c.CertificateArn)
	}
	for _, a := range actions {
		switch a.Type {
		case elbtypes.ActionTypeEnumForward:
			tg := awssdk.ToString(a.TargetGroupArn)
			if tg == "" && a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) == 1 {
				tg = awssdk.ToString(a.ForwardConfig.TargetGroups[0].TargetGroupArn)
			}
			s += ": forward to " + tg
		case elbtypes.ActionTypeEnumRedirect:
			r := a.RedirectConfig
			s += ": redirect " + string(r.StatusCode) + " to " + awssdk.ToString(r.Protocol) + ":" + awssdk.ToString(r.Port)
		default:
			s += ": " + string(a.Type)
		}
	}
	return s
}

// planListeners creates, modifies and deletes listeners so that the load
// balancer has exactly the wanted ones (80 → app, or 80 → 443 and 443 →
// app with a certificate).
func (d *Deployer) planListeners(dep *deploy.Deployment, id *ids, st *state) {
	have := map[int32]elbtypes.Listener{}
	for _, l := range st.listeners {
		have[awssdk.ToInt32(l.Port)] = l
	}
	wanted := map[int32]bool{}
	for _, l := range d.listeners() {
		wanted[l.port] = true
		name := fmt.Sprintf("%s:%d", d.cfg.Name, l.port)
		want := describeListener(string(l.protocol), l.actions(id.targetGroup), l.certificates())
		old, exists := have[l.port]
		if !exists {
			ch := deploy.Change{Action: deploy.Create, Kind: "listener", Name: name}
			ch.Set("rule", want)
			if l.cert != "" {
				ch.Set("sslPolicy", SSLPolicy)
			}
			dep.Add(ch, func(ctx context.Context) error {
				_, err := d.api.ELB.CreateListener(ctx, &elb.CreateListenerInput{
					LoadBalancerArn: awssdk.String(id.loadBalancer), Port: awssdk.Int32(l.port), Protocol: l.protocol,
					Certificates: l.certificates(), SslPolicy: l.sslPolicy(), DefaultActions: l.actions(id.targetGroup),
					Tags: elbTags(d.cfg),
				})
				return err
			})
			continue
		}
		ch := deploy.Change{Action: deploy.Update, Kind: "listener", Name: name}
		ch.Diff("rule", describeListener(string(old.Protocol), old.DefaultActions, old.Certificates), want)
		if l.cert != "" {
			ch.Diff("sslPolicy", orUnset(awssdk.ToString(old.SslPolicy)), SSLPolicy)
		}
		dep.Add(ch, func(ctx context.Context) error {
			_, err := d.api.ELB.ModifyListener(ctx, &elb.ModifyListenerInput{
				ListenerArn: old.ListenerArn, Port: awssdk.Int32(l.port), Protocol: l.protocol,
				Certificates: l.certificates(), SslPolicy: l.sslPolicy(), DefaultActions: l.actions(id.targetGroup),
			})
			return err
		})
	}
	for _, port := range slices.Sorted(maps.Keys(have)) {
		if wanted[port] {
			continue
		}
		old := have[port]
		ch := deploy.Change{Action: deploy.Delete, Kind: "listener", Name: fmt.Sprintf("%s:%d", d.cfg.Name, port),
			Reason: "not a listener of this deployment (80, and 443 with --certificate-arn)"}
		ch.RemoveItem("rule", describeListener(string(old.Protocol), old.DefaultActions, old.Certificates))
		dep.Add(ch, func(ctx context.Context) error {
			_, err := d.api.ELB.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: old.ListenerArn})
			return err
		})
	}
}

func elbTags(c Config) []elbtypes.Tag {
	return []elbtypes.Tag{
		{Key: awssdk.String("Name"), Value: awssdk.String(c.Name)},
		{Key: awssdk.String("managed-by"), Value: awssdk.String("datalab")},
	}
}
