package loadtest

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system) this process has used so far. Run in
// process, it is the whole system's cost, and unlike throughput it hardly depends on what
// else the machine is doing: the figure to compare settings by on a shared machine.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
