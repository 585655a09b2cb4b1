package deploy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Rule is one inbound allowance of a firewall or security group, in a form
// both clouds map to: a protocol, a port range and one source. A GCE
// firewall or an AWS IpPermission with several ports or sources is several
// Rules.
type Rule struct {
	// Resource names the firewall or security group the rule belongs to.
	Resource string
	// Protocol is "tcp", "udp", "icmp", … or "all" (GCE "all", AWS "-1").
	Protocol string
	// FromPort and ToPort bound the ports, inclusive; both 0 means every port.
	FromPort, ToPort int
	// Source is a CIDR ("0.0.0.0/0"), or a reference to other machines: an
	// AWS security group ("sg:sg-0abc"), a GCE source tag ("tag:web"), an AWS
	// prefix list ("pl:pl-123").
	Source string
}

// AllPorts reports whether the rule covers every port.
func (r Rule) AllPorts() bool { return r.FromPort == 0 && r.ToPort == 0 }

// Covers reports whether the rule lets TCP traffic reach port.
func (r Rule) Covers(port int) bool {
	switch strings.ToLower(r.Protocol) {
	case "tcp", "all", "-1", "6":
	default:
		return false
	}
	return r.AllPorts() || (r.FromPort <= port && port <= r.ToPort)
}

// Ports prints the port range: "80", "8000-8100" or "all".
func (r Rule) Ports() string {
	switch {
	case r.AllPorts():
		return "all"
	case r.FromPort == r.ToPort:
		return strconv.Itoa(r.FromPort)
	}
	return fmt.Sprintf("%d-%d", r.FromPort, r.ToPort)
}

// String prints the rule as a plan shows it: "tcp:80 from 0.0.0.0/0".
func (r Rule) String() string { return r.Protocol + ":" + r.Ports() + " from " + r.Source }

// ProtectedPorts must never be reachable from the whole internet: SSH, the
// seed's Airflow/app port 8080, PostgreSQL, MySQL and Kafka. The seed's
// instance security group opened 22, 8080 and 5000 to 0.0.0.0/0
// (../shared/seeds/000_*.txt).
var ProtectedPorts = map[int]string{
	22:   "SSH",
	8080: "app/Airflow",
	5432: "PostgreSQL",
	3306: "MySQL",
	9092: "Kafka",
}

// protectedOrder fixes the order violations are reported in.
var protectedOrder = []int{22, 3306, 5432, 8080, 9092}

// IsWorld reports whether source is a CIDR that spans a whole address
// family (0.0.0.0/0, ::/0 or any other /0) — the internet.
func IsWorld(source string) bool {
	p, err := netip.ParsePrefix(strings.TrimSpace(source))
	return err == nil && p.Bits() == 0
}

// ErrOpenToWorld is wrapped by CheckIngress's error.
var ErrOpenToWorld = errors.New("rule opens a protected port to the internet")

// CheckIngress returns an error naming every rule that lets the internet
// reach a ProtectedPort. Both deploy targets call it on the rules they are
// about to send, and the tests call it on the rules the fake clouds received.
func CheckIngress(rules []Rule) error {
	var bad []string
	for _, r := range rules {
		if !IsWorld(r.Source) {
			continue
		}
		for _, port := range protectedOrder {
			if r.Covers(port) {
				bad = append(bad, fmt.Sprintf("%s: %s reaches %d (%s)", r.Resource, r, port, ProtectedPorts[port]))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrOpenToWorld, strings.Join(bad, "; "))
	}
	return nil
}

// CheckAdminSource validates an operator-given CIDR that may reach SSH:
// it must parse, and it must not be the internet.
func CheckAdminSource(cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("SSH source %q: not a CIDR (want e.g. 203.0.113.7/32): %w", cidr, err)
	}
	if p.Bits() == 0 {
		return fmt.Errorf("SSH source %q is the whole internet: give your own address or network (e.g. 203.0.113.7/32), or leave SSH closed", cidr)
	}
	if p.Masked() != p {
		return fmt.Errorf("SSH source %q has host bits set: did you mean %s?", cidr, p.Masked())
	}
	return nil
}
