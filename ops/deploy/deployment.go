package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Deployment is a Plan together with the calls that carry it out. A target
// computes it from the state it read; Apply runs the calls in plan order.
type Deployment struct {
	Plan Plan
	// URL is where the deployed app answers (the VM's address, the load
	// balancer's DNS name) once known: read with the state, or set by a
	// step that creates the resource.
	URL   string
	steps []func(context.Context) error
}

// Add appends change c with the calls that make it. An update without
// fields is dropped with its calls, like Plan.Add does.
func (d *Deployment) Add(c Change, run func(context.Context) error) {
	if c.Action == Update && len(c.Fields) == 0 {
		return
	}
	d.Plan.Add(c)
	d.steps = append(d.steps, run)
}

// ErrOffline is returned by Apply for a deployment planned against an
// empty state.
var ErrOffline = errors.New("an offline plan cannot be applied: it was not computed from the cloud's state")

// Apply makes the changes in order and stops at the first error, which
// names the change it happened in. Changes before it stay made; running
// the deployment again plans only what is still missing.
func (d *Deployment) Apply(ctx context.Context, log *slog.Logger) error {
	if d.Plan.Offline {
		return ErrOffline
	}
	for i, run := range d.steps {
		c := d.Plan.Changes[i]
		log.Info("deploy", "step", fmt.Sprintf("%d/%d", i+1, len(d.steps)), "action", c.Action, "kind", c.Kind, "name", c.Name)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s %s %s: %w", c.Action, c.Kind, c.Name, err)
		}
		if err := run(ctx); err != nil {
			return fmt.Errorf("%s %s %s: %w", c.Action, c.Kind, c.Name, err)
		}
	}
	return nil
}
