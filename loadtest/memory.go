package loadtest

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStatus is where Linux tells a process its memory.
const procStatus = "/proc/self/status"

// memSampler watches this process's resident memory once a second.
type memSampler struct {
	quit chan struct{}
	done chan struct{}

	mu        sync.Mutex
	peak      int64
	afterFill int64
}

func startMemSampler() *memSampler {
	m := &memSampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-m.quit:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// sample reads VmRSS and keeps the highest seen; it returns it.
func (m *memSampler) sample() int64 {
	rss, _, ok := readMemory()
	if !ok {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.peak = max(m.peak, rss)
	return rss
}

// markFill remembers the memory when the backlog is in place.
func (m *memSampler) markFill() {
	rss := m.sample()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.afterFill = rss
}

func (m *memSampler) stop() {
	select {
	case <-m.quit:
	default:
		close(m.quit)
	}
	<-m.done
}

// report returns the memory now and at its peaks; nil where /proc is not there.
func (m *memSampler) report() *MemoryReport {
	rss, hwm, ok := readMemory()
	if !ok {
		return nil
	}
	m.sample()
	m.mu.Lock()
	defer m.mu.Unlock()
	return &MemoryReport{Source: procStatus, RSSBytes: rss, PeakRSSBytes: hwm, SampledPeakRSSBytes: m.peak, RSSAfterFillBytes: m.afterFill}
}

// readMemory returns VmRSS and VmHWM of this process in bytes.
func readMemory() (rss, hwm int64, ok bool) {
	raw, err := os.ReadFile(procStatus)
	if err != nil {
		return 0, 0, false
	}
	return parseMemory(raw)
}

// parseMemory reads VmRSS and VmHWM ("VmRSS:   123456 kB") from a /proc/PID/status.
func parseMemory(raw []byte) (rss, hwm int64, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	var seen int
	for sc.Scan() {
		name, rest, found := strings.Cut(sc.Text(), ":")
		if !found || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
		seen++
	}
	return rss, hwm, seen == 2
}
