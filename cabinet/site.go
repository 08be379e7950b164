package cabinet

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
)

// Site is one address cabinets are reached at: a cabinet of its own, or a central server or
// interface engine that serves several (BD Pyxis ES, OmniCenter, Mirth). What goes to a
// site's item master goes once, whatever the number of cabinets behind it.
type Site struct {
	// Driver commands the site's cabinets ("sim" or "hl7"); Address is where they are
	// reached (host:port for hl7), as NormalizeAddress writes it.
	Driver  string
	Address string
	// Cabinets are the station codes reached at the address, sorted.
	Cabinets []string
}

// ItemMaster is implemented by drivers that update an item master once per site rather than
// once per cabinet. UpdateItemAt falls back to one UpdateItem per cabinet for a driver that
// does not implement it.
type ItemMaster interface {
	// UpdateItemAt adds, updates or deactivates a medication in the item master of every
	// cabinet of the site, with one message. Errors are read as for Driver.Authorize.
	UpdateItemAt(ctx context.Context, s Site, item Item) error
}

// UpdateItemAt sends an item master update to a site through d: once, when d implements
// ItemMaster, else once per cabinet of the site (the errors joined).
func UpdateItemAt(ctx context.Context, d Driver, s Site, item Item) error {
	if im, ok := d.(ItemMaster); ok {
		return im.UpdateItemAt(ctx, s, item)
	}
	var errs []error
	for _, code := range s.Cabinets {
		errs = append(errs, d.UpdateItem(ctx, CabinetTarget{Driver: s.Driver, Address: s.Address, CabinetCode: code}, item))
	}
	return errors.Join(errs...)
}

// Sites groups cabinets by driver and address (NormalizeAddress): the cabinets an interface
// engine or a central server receives for share one site. Sites and their cabinets are
// sorted, and a cabinet named twice counts once.
func Sites(targets []CabinetTarget) []Site {
	var out []Site
	for _, t := range targets {
		addr := NormalizeAddress(t.Address)
		i := slices.IndexFunc(out, func(s Site) bool { return s.Driver == t.Driver && s.Address == addr })
		if i < 0 {
			out = append(out, Site{Driver: t.Driver, Address: addr})
			i = len(out) - 1
		}
		if !slices.Contains(out[i].Cabinets, t.CabinetCode) {
			out[i].Cabinets = append(out[i].Cabinets, t.CabinetCode)
		}
	}
	for i := range out {
		slices.Sort(out[i].Cabinets)
	}
	slices.SortFunc(out, func(a, b Site) int { return cmp.Or(cmp.Compare(a.Driver, b.Driver), cmp.Compare(a.Address, b.Address)) })
	return out
}

// NormalizeAddress returns the form of a host:port address under which cabinets share a
// connection: without surrounding space, the host in lower case (host names are not case
// sensitive), an IPv6 host in brackets. An address that is not host:port is only trimmed.
func NormalizeAddress(addr string) string {
	addr = strings.TrimSpace(addr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}
