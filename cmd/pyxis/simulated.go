package main

import (
	"io"
	"log/slog"
)

// Simulated cabinets (driver sim) are commanded by an in-process simulator that acknowledges
// everything and, in dev mode, withdraws by itself: on a system that serves patients a
// request would be "dispensed" by nothing. They exist in `pyxis dev` and in tests, and
// elsewhere only with PYXIS_ALLOW_SIMULATED_CABINETS=true, which nobody should miss: a
// warning at start, an attribute on every log line, and a line in /readyz.

// newLogger returns the process's logger, writing text to w; when simulated cabinets are
// allowed every line carries simulated_cabinets=allowed.
func newLogger(w io.Writer, allowSimulated bool) *slog.Logger {
	var h slog.Handler = slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})
	if allowSimulated {
		h = h.WithAttrs([]slog.Attr{slog.String("simulated_cabinets", "allowed")})
	}
	return slog.New(h)
}

// warnSimulatedCabinets says, once at start, what PYXIS_ALLOW_SIMULATED_CABINETS=true means.
func warnSimulatedCabinets() {
	slog.Warn("PYXIS_ALLOW_SIMULATED_CABINETS=true: cabinets with driver sim are accepted and commanded by an " +
		"in-process simulator that dispenses nothing; never set this on a system that serves patients")
}
