package devstack

import (
	"runtime/debug"
)

// The garbage collector's settings for a process that holds the whole system: dev mode, and
// the load test with --dev, run the Temporal server, the worker, the API and the simulated
// cabinet in one heap, which Go's default (GOGC=100) collected whenever it doubled; marking
// took about a tenth of the process's CPU. Letting the heap grow to five times what is live
// before each collection costs fewer collections: a tenth to a fifth less CPU per request,
// for about 250 MiB more memory (docs/performance.md, "Round two, fourth pass"). The soft
// limit makes the collector work harder instead once the heap nears it, so a large backlog
// of open requests cannot take the machine's memory. GOGC and GOMEMLIMIT set in the
// environment win, as they do for any Go program. The production binary, pyxis, keeps Go's
// defaults: its processes hold far smaller heaps, and its Kubernetes manifests set
// GOMEMLIMIT from the container's limit.
const (
	devGCPercent   = 400
	devMemoryLimit = 1536 << 20 // 1.5 GiB
)

// TuneGC applies the settings above, except where the environment (getenv) sets its own.
// pyxis-dev calls it for dev mode and the load test.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(devGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(devMemoryLimit)
	}
}
