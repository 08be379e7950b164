package mllp

import (
	"net/netip"
	"sync"
	"time"
)

// refusalWindow is how long refusals of one address are counted together.
const refusalWindow = time.Minute

// refusals counts the connections refused per address, so that a peer that keeps trying
// costs one log line and one audit entry a minute, and is cut off cheaply past a limit.
type refusals struct {
	mu     sync.Mutex
	byAddr map[netip.Addr]*peerRefusals
}

type peerRefusals struct {
	since    time.Time // start of the current window
	count    int       // refusals in the current window
	reported int       // of which already reported
	reason   string    // the latest reason
}

// overLimit reports whether addr was refused max times or more in the current window.
func (r *refusals) overLimit(addr netip.Addr, max int, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.byAddr[addr]
	if p == nil || now.Sub(p.since) >= refusalWindow {
		return false
	}
	if p.count >= max {
		p.count++
		return true
	}
	return false
}

// add counts one refusal of addr and says whether to report now, with how many refusals
// the report stands for: the first refusal of a window is reported at once, the rest with
// the first of the next window.
func (r *refusals) add(addr netip.Addr, reason string, now time.Time) (report bool, count int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byAddr == nil {
		r.byAddr = make(map[netip.Addr]*peerRefusals)
	}
	for a, p := range r.byAddr {
		// Forget peers quiet for a whole window, so the map does not grow without bound.
		if now.Sub(p.since) >= 2*refusalWindow {
			delete(r.byAddr, a)
		}
	}
	p := r.byAddr[addr]
	if p == nil {
		p = &peerRefusals{since: now}
		r.byAddr[addr] = p
	}
	if now.Sub(p.since) >= refusalWindow {
		count = p.count - p.reported + 1
		*p = peerRefusals{since: now, count: 1, reported: 1, reason: reason}
		return true, count
	}
	p.count++
	p.reason = reason
	if p.reported == 0 {
		p.reported = p.count
		return true, p.count
	}
	return false, 0
}

// RefusalCounter aggregates refusals per address for an application that refuses peers per
// message, as the server does per connection: the first refusal of an address in a minute is
// reported at once, the others counted into the next report. Its zero value is ready; it is
// safe for concurrent use.
type RefusalCounter struct{ r refusals }

// Add counts a refusal of addr at now and says whether to report (log, audit) it now, with
// the number of refusals the report stands for.
func (c *RefusalCounter) Add(addr netip.Addr, now time.Time) (report bool, count int) {
	return c.r.add(addr, "", now)
}
