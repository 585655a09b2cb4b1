// Package deploy is what the cloud deploy targets (`datalab deploy gce|aws`)
// share: the Plan — the difference between the resources a deployment needs
// and what the cloud already has, printed by `--plan` and executed otherwise —,
// the ingress rules those resources open and the policy every rule must pass
// (no SSH, 8080, database or Kafka port open to the internet, the seed's
// mistake), and the boot script that starts the compose stack on a VM.
//
// It sits after the pipeline and the apps: it deploys them and imports none of
// them. One subpackage per cloud (gce, aws) reads the current state through
// that cloud's Go SDK, computes a Plan and applies it.
package deploy

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Action is what a Change does to one cloud resource.
type Action string

// The actions, with the sign a plan prints before them.
const (
	Create  Action = "create"  // +
	Update  Action = "update"  // ~  (in place)
	Replace Action = "replace" // -/+ (delete, then create: the cloud cannot change it in place)
	Delete  Action = "delete"  // -
)

func (a Action) sign() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Replace:
		return "-/+"
	case Delete:
		return "-"
	}
	return "?"
}

// Op is what a Field line says about one attribute.
type Op string

// The field operations.
const (
	OpSet    Op = "=" // the value a created resource gets
	OpChange Op = "→" // Old becomes New
	OpAdd    Op = "+" // New is added to a list attribute (an ingress rule, a listener)
	OpRemove Op = "-" // Old is removed from a list attribute
)

// Field is one attribute line of a Change.
type Field struct {
	Name     string
	Op       Op
	Old, New string
}

// Change is one resource the deployment creates, updates, replaces or deletes.
type Change struct {
	Action Action
	// Kind is the resource type in the cloud's own words ("firewall",
	// "instance", "security-group", "launch-template", …).
	Kind string
	Name string
	// Reason says why a Replace or Delete happens.
	Reason string
	Fields []Field
}

// Set records the value of an attribute of a resource being created.
func (c *Change) Set(name, value string) {
	c.Fields = append(c.Fields, Field{Name: name, Op: OpSet, New: value})
}

// Diff records old → new when the two differ and reports whether they did.
func (c *Change) Diff(name, old, new string) bool {
	if old == new {
		return false
	}
	c.Fields = append(c.Fields, Field{Name: name, Op: OpChange, Old: old, New: new})
	return true
}

// AddItem records an element added to a list attribute.
func (c *Change) AddItem(name, value string) {
	c.Fields = append(c.Fields, Field{Name: name, Op: OpAdd, New: value})
}

// RemoveItem records an element removed from a list attribute.
func (c *Change) RemoveItem(name, value string) {
	c.Fields = append(c.Fields, Field{Name: name, Op: OpRemove, Old: value})
}

// Plan is the ordered list of changes a deployment makes. The order is the
// order they are applied in (dependencies first), which is fixed for a
// target; the fields of each change are printed sorted, so the same state
// and flags always print the same plan.
type Plan struct {
	// Target names the deployment in the header ("gce", "aws").
	Target string
	// Scope is printed in the header: project and zone, region, name prefix.
	Scope []string
	// Offline is set when the plan was computed against an empty state
	// because the current state was not (or could not be) read.
	Offline bool
	Changes []Change
}

// Add appends c to the plan unless it is an update with no fields.
func (p *Plan) Add(c Change) {
	if c.Action == Update && len(c.Fields) == 0 {
		return
	}
	p.Changes = append(p.Changes, c)
}

// Count returns how many changes have action a.
func (p *Plan) Count(a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Empty reports whether the deployment is already as wanted.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// WriteTo prints the plan for people: a header, then one block per change
// with its fields aligned and sorted.
func (p *Plan) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "datalab deploy %s (%s)\n", p.Target, strings.Join(p.Scope, ", "))
	if p.Offline {
		b.WriteString("state: not read (offline): planned against an empty cloud, so everything is created\n")
	} else {
		b.WriteString("state: read from the cloud\n")
	}
	if p.Empty() {
		b.WriteString("\nNo changes: the deployment is up to date.\n")
	} else {
		fmt.Fprintf(&b, "\nPlan: %d to create, %d to update, %d to replace, %d to delete.\n",
			p.Count(Create), p.Count(Update), p.Count(Replace), p.Count(Delete))
	}
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "\n%s %s %s\n", c.Action.sign(), c.Kind, c.Name)
		if c.Reason != "" {
			fmt.Fprintf(&b, "    # %s\n", c.Reason)
		}
		fields := slices.Clone(c.Fields)
		slices.SortStableFunc(fields, func(x, y Field) int {
			return strings.Compare(x.Name+"\x00"+x.Old+"\x00"+x.New, y.Name+"\x00"+y.Old+"\x00"+y.New)
		})
		width := 0
		for _, f := range fields {
			width = max(width, len(f.Name))
		}
		for _, f := range fields {
			pad := strings.Repeat(" ", width-len(f.Name))
			switch f.Op {
			case OpSet:
				fmt.Fprintf(&b, "    %s%s = %s\n", f.Name, pad, f.New)
			case OpChange:
				fmt.Fprintf(&b, "    %s%s : %s → %s\n", f.Name, pad, f.Old, f.New)
			case OpAdd:
				fmt.Fprintf(&b, "    %s%s + %s\n", f.Name, pad, f.New)
			case OpRemove:
				fmt.Fprintf(&b, "    %s%s - %s\n", f.Name, pad, f.Old)
			}
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// String returns the printed plan.
func (p *Plan) String() string {
	var b strings.Builder
	p.WriteTo(&b)
	return b.String()
}

// Pending stands, in a plan, for the ID or ARN the cloud assigns to a
// resource the plan creates: "(new security-group datalab-alb)".
func Pending(kind, name string) string { return "(new " + kind + " " + name + ")" }
