package aws

import (
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/datalabhq/datalab/ops/deploy"
)

// launchTemplateData is the instances' configuration.
func (d *Deployer) launchTemplateData(id *ids) *ec2types.RequestLaunchTemplateData {
	c := d.cfg
	profile := &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: awssdk.String(c.InstanceProfile)}
	if strings.HasPrefix(c.InstanceProfile, "arn:") {
		profile = &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Arn: awssdk.String(c.InstanceProfile)}
	}
	return &ec2types.RequestLaunchTemplateData{
		ImageId:            awssdk.String(c.AMI),
		InstanceType:       ec2types.InstanceType(c.InstanceType),
		IamInstanceProfile: profile,
		SecurityGroupIds:   []string{id.appSG},
		UserData:           awssdk.String(base64UserData(c.userData())),
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:              ec2types.LaunchTemplateHttpTokensStateRequired,
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
			HttpPutResponseHopLimit: awssdk.Int32(HopLimit),
		},
		TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{{
			ResourceType: ec2types.ResourceTypeInstance, Tags: ec2Tags(c, c.Name),
		}},
	}
}

// templateFields are the launch template settings a plan compares, as
// printed: want from the request, have from the latest version.
func templateFields(want *ec2types.RequestLaunchTemplateData, have *ec2types.ResponseLaunchTemplateData) (w, h map[string]string) {
	w = map[string]string{
		"imageId":               awssdk.ToString(want.ImageId),
		"instanceType":          string(want.InstanceType),
		"iamInstanceProfile":    awssdk.ToString(want.IamInstanceProfile.Name) + awssdk.ToString(want.IamInstanceProfile.Arn),
		"securityGroupIds":      strings.Join(want.SecurityGroupIds, ","),
		"userData":              userDataShown(awssdk.ToString(want.UserData)),
		"metadata.httpTokens":   string(want.MetadataOptions.HttpTokens),
		"metadata.httpEndpoint": string(want.MetadataOptions.HttpEndpoint),
		"metadata.hopLimit":     strconv.Itoa(int(awssdk.ToInt32(want.MetadataOptions.HttpPutResponseHopLimit))),
	}
	for k, v := range deploy.ScriptSettings(decodeUserData(awssdk.ToString(want.UserData))) {
		w["userData."+k] = v
	}
	if have == nil {
		return w, nil
	}
	h = map[string]string{
		"imageId":          awssdk.ToString(have.ImageId),
		"instanceType":     string(have.InstanceType),
		"securityGroupIds": strings.Join(have.SecurityGroupIds, ","),
		"userData":         userDataShown(awssdk.ToString(have.UserData)),
	}
	if p := have.IamInstanceProfile; p != nil {
		h["iamInstanceProfile"] = awssdk.ToString(p.Name) + awssdk.ToString(p.Arn)
	}
	for k, v := range deploy.ScriptSettings(decodeUserData(awssdk.ToString(have.UserData))) {
		h["userData."+k] = v
	}
	if m := have.MetadataOptions; m != nil {
		h["metadata.httpTokens"] = string(m.HttpTokens)
		h["metadata.httpEndpoint"] = string(m.HttpEndpoint)
		h["metadata.hopLimit"] = strconv.Itoa(int(awssdk.ToInt32(m.HttpPutResponseHopLimit)))
	}
	return w, h
}

func decodeUserData(b64 string) string {
	s, _ := base64.StdEncoding.DecodeString(b64)
	return string(s)
}

// userDataShown prints base64 user-data by the digest of the script.
func userDataShown(b64 string) string {
	if b64 == "" {
		return "(none)"
	}
	s, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "(not base64)"
	}
	return deploy.Digest(string(s))
}

// planLaunchTemplate creates the template, or adds a version when the
// latest differs (the group launches $Latest; running instances are
// replaced by an instance refresh, see planAutoScalingGroup).
func (d *Deployer) planLaunchTemplate(dep *deploy.Deployment, id *ids, st *state) {
	c := d.cfg
	want := d.launchTemplateData(id)
	w, h := templateFields(want, st.templateData)
	ch := deploy.Change{Action: deploy.Update, Kind: "launch-template", Name: c.Name}
	if st.launchTemplate == nil {
		ch.Action = deploy.Create
	}
	for _, k := range slices.Sorted(maps.Keys(w)) {
		if h == nil {
			ch.Set(k, w[k])
		} else {
			ch.Diff(k, orUnset(h[k]), w[k])
		}
	}
	if ch.Action == deploy.Update && len(ch.Fields) > 0 {
		id.newLaunchTemplateVersion = true
		ch.AddItem("version", "new version after "+strconv.FormatInt(awssdk.ToInt64(st.launchTemplate.LatestVersionNumber), 10)+" (the group launches $Latest)")
	}
	dep.Add(ch, func(ctx context.Context) error {
		data := d.launchTemplateData(id) // with the security group created earlier
		if st.launchTemplate == nil {
			_, err := d.api.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
				LaunchTemplateName: awssdk.String(c.Name), LaunchTemplateData: data,
				VersionDescription: awssdk.String("datalab deploy"),
				TagSpecifications:  []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: ec2Tags(c, c.Name)}},
			})
			return err
		}
		_, err := d.api.EC2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateName: awssdk.String(c.Name), LaunchTemplateData: data,
			VersionDescription: awssdk.String("datalab deploy"),
		})
		return err
	})
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// planAutoScalingGroup creates the group (min 1, max 3, desired 1, ELB
// health checks) or brings its settings back; the desired capacity of an
// existing group is the scaling policies' business and is left alone.
func (d *Deployer) planAutoScalingGroup(dep *deploy.Deployment, id *ids, have *astypes.AutoScalingGroup) {
	c := d.cfg
	subnets := sortedJoin(c.SubnetIDs)
	ch := deploy.Change{Action: deploy.Update, Kind: "auto-scaling-group", Name: c.Name}
	if have == nil {
		ch.Action = deploy.Create
		ch.Set("desiredCapacity", strconv.Itoa(DesiredCapacity))
		ch.Set("healthCheck", "ELB, grace 300s")
		ch.Set("launchTemplate", c.Name+" $Latest")
		ch.Set("maxSize", strconv.Itoa(MaxSize))
		ch.Set("minSize", strconv.Itoa(MinSize))
		ch.Set("subnets", subnets)
		ch.Set("targetGroups", id.targetGroup)
		dep.Add(ch, func(ctx context.Context) error {
			_, err := d.api.AutoScaling.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
				AutoScalingGroupName: awssdk.String(c.Name),
				LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: awssdk.String(c.Name), Version: awssdk.String("$Latest")},
				MinSize:              awssdk.Int32(MinSize), MaxSize: awssdk.Int32(MaxSize), DesiredCapacity: awssdk.Int32(DesiredCapacity),
				VPCZoneIdentifier:      awssdk.String(strings.Join(c.SubnetIDs, ",")),
				TargetGroupARNs:        []string{id.targetGroup},
				HealthCheckType:        awssdk.String("ELB"),
				HealthCheckGracePeriod: awssdk.Int32(300),
				Tags: []astypes.Tag{
					{Key: awssdk.String("Name"), Value: awssdk.String(c.Name), PropagateAtLaunch: awssdk.Bool(true)},
					{Key: awssdk.String("managed-by"), Value: awssdk.String("datalab"), PropagateAtLaunch: awssdk.Bool(true)},
				},
			})
			return err
		})
		return
	}
	haveLT := ""
	if lt := have.LaunchTemplate; lt != nil {
		haveLT = awssdk.ToString(lt.LaunchTemplateName) + " " + awssdk.ToString(lt.Version)
	}
	haveSubnets := strings.Split(awssdk.ToString(have.VPCZoneIdentifier), ",")
	update := ch.Diff("minSize", strconv.Itoa(int(awssdk.ToInt32(have.MinSize))), strconv.Itoa(MinSize))
	update = ch.Diff("maxSize", strconv.Itoa(int(awssdk.ToInt32(have.MaxSize))), strconv.Itoa(MaxSize)) || update
	update = ch.Diff("launchTemplate", haveLT, c.Name+" $Latest") || update
	update = ch.Diff("subnets", sortedJoin(haveSubnets), subnets) || update
	update = ch.Diff("healthCheck", awssdk.ToString(have.HealthCheckType)+", grace "+strconv.Itoa(int(awssdk.ToInt32(have.HealthCheckGracePeriod)))+"s", "ELB, grace 300s") || update
	attach := !slices.Contains(have.TargetGroupARNs, id.targetGroup)
	if attach {
		ch.AddItem("targetGroups", id.targetGroup)
	}
	refresh := id.newLaunchTemplateVersion
	if refresh {
		ch.AddItem("instanceRefresh", "replace the instances with the new launch template version, keeping 100% healthy")
	}
	dep.Add(ch, func(ctx context.Context) error {
		if update {
			if _, err := d.api.AutoScaling.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
				AutoScalingGroupName: awssdk.String(c.Name),
				LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: awssdk.String(c.Name), Version: awssdk.String("$Latest")},
				MinSize:              awssdk.Int32(MinSize), MaxSize: awssdk.Int32(MaxSize),
				VPCZoneIdentifier:      awssdk.String(strings.Join(c.SubnetIDs, ",")),
				HealthCheckType:        awssdk.String("ELB"),
				HealthCheckGracePeriod: awssdk.Int32(300),
			}); err != nil {
				return err
			}
		}
		if attach {
			if _, err := d.api.AutoScaling.AttachLoadBalancerTargetGroups(ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{
				AutoScalingGroupName: awssdk.String(c.Name), TargetGroupARNs: []string{id.targetGroup},
			}); err != nil {
				return err
			}
		}
		if refresh {
			if _, err := d.api.AutoScaling.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{
				AutoScalingGroupName: awssdk.String(c.Name),
				Preferences:          &astypes.RefreshPreferences{MinHealthyPercentage: awssdk.Int32(100), MaxHealthyPercentage: awssdk.Int32(200)},
			}); err != nil {
				return err
			}
		}
		return nil
	})
}
