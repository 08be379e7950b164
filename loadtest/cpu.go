package loadtest

import (
	"os"
	"strconv"
	"strings"
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

// machineCPUTime returns the CPU time every CPU of the machine has been busy so far (Linux's
// /proc/stat; false elsewhere). The process's own figure leaves out the PostgreSQL server,
// which serves both the system's database and Temporal's and costs a request about as much
// again (docs/performance.md); this one counts it, and anything else the machine ran, so it
// is read beside the process's figure, never instead of it.
func machineCPUTime() (time.Duration, bool) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	return parseProcStat(string(raw))
}

// userHZ is the unit of /proc/stat's times: USER_HZ, fixed at 100 in Linux's user ABI.
const userHZ = 100

// parseProcStat reads the busy time from /proc/stat's first line ("cpu  user nice system
// idle iowait irq softirq steal guest guest_nice", in USER_HZ ticks): everything but idle
// and iowait. guest and guest_nice are already counted in user and nice.
func parseProcStat(s string) (time.Duration, bool) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / userHZ, true
}

// cpuMark is the process's and the machine's CPU time at one moment; spent measures from it.
type cpuMark struct {
	self, machine     time.Duration
	selfOK, machineOK bool
}

func markCPU() cpuMark {
	var m cpuMark
	m.self, m.selfOK = cpuTime()
	m.machine, m.machineOK = machineCPUTime()
	return m
}

// spent returns the process's and the machine's CPU time since m (the machine's is 0 where
// it cannot be read).
func (m cpuMark) spent() (self, machine time.Duration, ok bool) {
	now := markCPU()
	if !m.selfOK || !now.selfOK {
		return 0, 0, false
	}
	if m.machineOK && now.machineOK {
		machine = now.machine - m.machine
	}
	return now.self - m.self, machine, true
}
