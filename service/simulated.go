package service

import "log/slog"

// Simulated cabinets (driver sim) are commanded by an in-process simulator that acknowledges
// everything and, in dev mode, withdraws by itself: on a system that serves patients a
// request would be "dispensed" by nothing. They exist in dev mode (`pyxis-dev`) and in tests, and
// elsewhere only with PYXIS_ALLOW_SIMULATED_CABINETS=true, which nobody should miss: a
// warning at start, an attribute on every log line, and a line in /readyz.

// WarnSimulatedCabinets says, once at start, what PYXIS_ALLOW_SIMULATED_CABINETS=true means.
func WarnSimulatedCabinets() {
	slog.Warn("PYXIS_ALLOW_SIMULATED_CABINETS=true: cabinets with driver sim are accepted and commanded by an " +
		"in-process simulator that dispenses nothing; never set this on a system that serves patients")
}
