// Package drivers chooses, per cabinet, the driver that commands it: each cabinet row names
// its driver ("sim" for the in-process simulator, "hl7" for HL7 v2 over MLLP), and Mux sends
// each order to that driver.
package drivers

import (
	"context"
	"fmt"

	"github.com/medreq/pyxis/cabinet"
)

// Driver names, as cabinet rows and cabinet.Order.Driver spell them.
const (
	Sim = "sim"
	HL7 = "hl7"
)

// Mux is a cabinet.Driver that dispatches each command on its cabinet's Driver field.
type Mux struct {
	// Drivers maps a driver name to its implementation, e.g. {"sim": sim, "hl7": hl7d}.
	Drivers map[string]cabinet.Driver
	// Default names the driver of orders whose Driver is empty; when it is empty too, such
	// orders are refused.
	Default string
}

var (
	_ cabinet.Driver     = (*Mux)(nil)
	_ cabinet.ItemMaster = (*Mux)(nil)
)

// New returns a Mux over the simulator and the HL7 driver, without a default: an order that
// names no driver is refused, never handed to the simulator. A nil argument leaves that
// driver out, so its cabinets are refused; pass nil for sim wherever simulated cabinets are
// not allowed.
func New(sim, hl7 cabinet.Driver) *Mux {
	m := &Mux{Drivers: make(map[string]cabinet.Driver)}
	if sim != nil {
		m.Drivers[Sim] = sim
	}
	if hl7 != nil {
		m.Drivers[HL7] = hl7
	}
	return m
}

// Authorize sends the order to its cabinet's driver.
func (m *Mux) Authorize(ctx context.Context, o cabinet.Order) error {
	d, err := m.pick(o.Target())
	if err != nil {
		return err
	}
	return d.Authorize(ctx, o)
}

// Revoke sends the revocation to its cabinet's driver.
func (m *Mux) Revoke(ctx context.Context, o cabinet.Order) error {
	d, err := m.pick(o.Target())
	if err != nil {
		return err
	}
	return d.Revoke(ctx, o)
}

// UpdateItem sends the item master update to its cabinet's driver.
func (m *Mux) UpdateItem(ctx context.Context, c cabinet.CabinetTarget, item cabinet.Item) error {
	d, err := m.pick(c)
	if err != nil {
		return err
	}
	return d.UpdateItem(ctx, c, item)
}

// UpdateItemAt sends the item master update to the site's driver: once for the site when
// that driver updates item masters per site (HL7), else once per cabinet.
func (m *Mux) UpdateItemAt(ctx context.Context, s cabinet.Site, item cabinet.Item) error {
	code := ""
	if len(s.Cabinets) > 0 {
		code = s.Cabinets[0]
	}
	d, err := m.pick(cabinet.CabinetTarget{Driver: s.Driver, Address: s.Address, CabinetCode: code})
	if err != nil {
		return err
	}
	return cabinet.UpdateItemAt(ctx, d, s, item)
}

// pick returns the cabinet's driver, or a *cabinet.RefusedError when there is none: retrying
// will not make an unknown driver known.
func (m *Mux) pick(c cabinet.CabinetTarget) (cabinet.Driver, error) {
	name := c.Driver
	if name == "" {
		name = m.Default
	}
	d, ok := m.Drivers[name]
	if !ok || d == nil {
		return nil, &cabinet.RefusedError{Cabinet: c.CabinetCode, Reason: fmt.Sprintf("unknown driver %q", name)}
	}
	return d, nil
}
