package aws

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/datalabhq/datalab/ops/deploy"
)

// albRules lets the internet reach the load balancer's listeners.
func (d *Deployer) albRules(*ids) []deploy.Rule {
	g := d.cfg.albGroup()
	rules := []deploy.Rule{{Resource: "security-group " + g, Protocol: "tcp", FromPort: 80, ToPort: 80, Source: "0.0.0.0/0"}}
	if d.cfg.CertificateARN != "" {
		rules = append(rules, deploy.Rule{Resource: "security-group " + g, Protocol: "tcp", FromPort: 443, ToPort: 443, Source: "0.0.0.0/0"})
	}
	return rules
}

// appRules lets the load balancer's group reach the app port, and the
// operator's network SSH when asked.
func (d *Deployer) appRules(id *ids) []deploy.Rule {
	g, c := d.cfg.appGroup(), d.cfg
	rules := []deploy.Rule{{Resource: "security-group " + g, Protocol: "tcp", FromPort: c.AppPort, ToPort: c.AppPort, Source: "sg:" + id.albSG}}
	if c.SSHCIDR != "" {
		rules = append(rules, deploy.Rule{Resource: "security-group " + g, Protocol: "tcp", FromPort: 22, ToPort: 22, Source: c.SSHCIDR})
	}
	return rules
}

// dbRules is the rule added to the database's group.
func (d *Deployer) dbRules(id *ids) []deploy.Rule {
	c := d.cfg
	return []deploy.Rule{{Resource: "security-group " + c.DBSecurityGroupID, Protocol: "tcp", FromPort: c.DBPort, ToPort: c.DBPort, Source: "sg:" + id.appSG}}
}

// allRules is every rule the deployment sends, for the ingress policy check.
func (d *Deployer) allRules(id *ids) []deploy.Rule {
	rules := append(d.albRules(id), d.appRules(id)...)
	if d.cfg.DBSecurityGroupID != "" {
		rules = append(rules, d.dbRules(id)...)
	}
	return rules
}

// PermissionRules flattens IpPermissions into deploy.Rules: one per
// protocol/port range and source. A source is a CIDR, "sg:<group id>" or
// "pl:<prefix list id>".
func PermissionRules(resource string, perms []ec2types.IpPermission) []deploy.Rule {
	var rules []deploy.Rule
	for _, p := range perms {
		r := deploy.Rule{Resource: resource, Protocol: awssdk.ToString(p.IpProtocol)}
		if r.Protocol == "-1" {
			r.Protocol = "all"
		} else {
			r.FromPort, r.ToPort = int(awssdk.ToInt32(p.FromPort)), int(awssdk.ToInt32(p.ToPort))
		}
		for _, x := range p.IpRanges {
			r.Source = awssdk.ToString(x.CidrIp)
			rules = append(rules, r)
		}
		for _, x := range p.Ipv6Ranges {
			r.Source = awssdk.ToString(x.CidrIpv6)
			rules = append(rules, r)
		}
		for _, x := range p.UserIdGroupPairs {
			r.Source = "sg:" + awssdk.ToString(x.GroupId)
			rules = append(rules, r)
		}
		for _, x := range p.PrefixListIds {
			r.Source = "pl:" + awssdk.ToString(x.PrefixListId)
			rules = append(rules, r)
		}
	}
	return rules
}

// permissions turns rules back into IpPermissions, one per rule.
func permissions(rules []deploy.Rule) []ec2types.IpPermission {
	var perms []ec2types.IpPermission
	for _, r := range rules {
		p := ec2types.IpPermission{IpProtocol: awssdk.String(r.Protocol)}
		if r.Protocol == "all" {
			p.IpProtocol = awssdk.String("-1")
		} else {
			p.FromPort, p.ToPort = awssdk.Int32(int32(r.FromPort)), awssdk.Int32(int32(r.ToPort))
		}
		switch src := r.Source; {
		case strings.HasPrefix(src, "sg:"):
			p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: awssdk.String(strings.TrimPrefix(src, "sg:"))}}
		case strings.HasPrefix(src, "pl:"):
			p.PrefixListIds = []ec2types.PrefixListId{{PrefixListId: awssdk.String(strings.TrimPrefix(src, "pl:"))}}
		case isIPv6(src):
			p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: awssdk.String(src)}}
		default:
			p.IpRanges = []ec2types.IpRange{{CidrIp: awssdk.String(src)}}
		}
		perms = append(perms, p)
	}
	return perms
}

func isIPv6(cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.Addr().Is6()
}

// ruleKey identifies a rule independent of the group it is in.
func ruleKey(r deploy.Rule) string { r.Resource = ""; return r.String() }

// diffRules returns the rules of want missing from have, and those of have
// not in want, each sorted.
func diffRules(want, have []deploy.Rule) (add, remove []deploy.Rule) {
	in := func(rs []deploy.Rule, r deploy.Rule) bool {
		return slices.ContainsFunc(rs, func(x deploy.Rule) bool { return ruleKey(x) == ruleKey(r) })
	}
	for _, r := range want {
		if !in(have, r) && !in(add, r) {
			add = append(add, r)
		}
	}
	for _, r := range have {
		if !in(want, r) {
			remove = append(remove, r)
		}
	}
	byKey := func(a, b deploy.Rule) int { return strings.Compare(ruleKey(a), ruleKey(b)) }
	slices.SortFunc(add, byKey)
	slices.SortFunc(remove, byKey)
	return add, remove
}

// planGroup creates a security group of the deployment or makes its
// ingress exactly the wanted rules: missing ones are authorized, others
// (added by hand, or left from an older deployment) revoked.
func (d *Deployer) planGroup(dep *deploy.Deployment, id *ids, name, description string, have *ec2types.SecurityGroup, groupID *string, rules func(*ids) []deploy.Rule) {
	c := d.cfg
	var current []deploy.Rule
	ch := deploy.Change{Action: deploy.Update, Kind: "security-group", Name: name}
	if have == nil {
		ch.Action = deploy.Create
		ch.Set("description", description)
		ch.Set("vpc", c.VPCID)
	} else {
		current = PermissionRules("security-group "+name, have.IpPermissions)
	}
	add, remove := diffRules(rules(id), current)
	for _, r := range add {
		ch.AddItem("ingress", ruleKey(r))
	}
	for _, r := range remove {
		ch.RemoveItem("ingress", ruleKey(r))
	}
	dep.Add(ch, func(ctx context.Context) error {
		if have == nil {
			out, err := d.api.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
				GroupName: awssdk.String(name), Description: awssdk.String(description), VpcId: awssdk.String(c.VPCID),
				TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: ec2Tags(c, name)}},
			})
			if err != nil {
				return err
			}
			*groupID = awssdk.ToString(out.GroupId)
		}
		// Recomputed now: a rule may refer to a group created a step ago.
		add, remove := diffRules(rules(id), current)
		return d.changeIngress(ctx, *groupID, add, remove)
	})
}

// planDBRule adds the instances' group to the database's group; rules
// already there are the database owner's and are left alone.
func (d *Deployer) planDBRule(dep *deploy.Deployment, id *ids, have *ec2types.SecurityGroup) {
	c := d.cfg
	var current []deploy.Rule
	if have != nil {
		current = PermissionRules("security-group "+c.DBSecurityGroupID, have.IpPermissions)
	}
	ch := deploy.Change{Action: deploy.Update, Kind: "security-group", Name: c.DBSecurityGroupID + " (database)"}
	add, _ := diffRules(d.dbRules(id), current)
	for _, r := range add {
		ch.AddItem("ingress", ruleKey(r))
	}
	dep.Add(ch, func(ctx context.Context) error {
		add, _ := diffRules(d.dbRules(id), current)
		return d.changeIngress(ctx, c.DBSecurityGroupID, add, nil)
	})
}

// changeIngress authorizes add and revokes remove on group. The rules to
// add pass the ingress policy first: nothing reaches the API otherwise.
func (d *Deployer) changeIngress(ctx context.Context, group string, add, remove []deploy.Rule) error {
	if err := deploy.CheckIngress(add); err != nil {
		return err
	}
	if len(add) > 0 {
		if _, err := d.api.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: awssdk.String(group), IpPermissions: permissions(add),
		}); err != nil {
			return fmt.Errorf("authorize ingress: %w", err)
		}
	}
	if len(remove) > 0 {
		if _, err := d.api.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
			GroupId: awssdk.String(group), IpPermissions: permissions(remove),
		}); err != nil {
			return fmt.Errorf("revoke ingress: %w", err)
		}
	}
	return nil
}

func ec2Tags(c Config, name string) []ec2types.Tag {
	return []ec2types.Tag{
		{Key: awssdk.String("Name"), Value: awssdk.String(name)},
		{Key: awssdk.String("managed-by"), Value: awssdk.String("datalab")},
	}
}
