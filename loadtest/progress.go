package loadtest

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// progressEvery is how often the live line is redrawn.
const progressEvery = 500 * time.Millisecond

// progress redraws one line in place while a phase runs.
type progress struct {
	quit chan struct{}
	done chan struct{}
}

// startProgress draws the live line of the phase named label to env.Progress, if any.
func (r *runner) startProgress(label string) *progress {
	return r.startProgressFunc(func() string { return r.progressLine(label) })
}

// startProgressFunc redraws the line line returns to env.Progress, if any.
func (r *runner) startProgressFunc(line func() string) *progress {
	p := &progress{quit: make(chan struct{}), done: make(chan struct{})}
	w := r.env.Progress
	if w == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r\x1b[K"+line())
			}
		}
	}()
	return p
}

// stop clears the line.
func (p *progress) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
}

// progressLine says where the run is: requests done of the total, the rate of creates, the
// failures and the p99 of the main endpoints so far.
func (r *runner) progressLine(label string) string {
	elapsed := time.Since(r.start)
	created, done := r.created.Load(), r.finished.Load()
	total := "?"
	switch {
	case r.cfg.Requests > 0:
		total = fmt.Sprint(r.cfg.Requests)
	case !r.cfg.Closed() && r.cfg.Duration > 0:
		total = fmt.Sprintf("~%d", int(math.Ceil(r.cfg.Rate*r.cfg.Duration.Seconds())))
	}
	names := []string{EndpointCreate, EndpointGet, EndpointQueue, EndpointApprove}
	_, failures, p99 := r.rec.live(names)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s  done %d/%s  created %d (%.1f/s)  failures %d  p99 ms:", label,
		elapsed.Truncate(time.Second), done, total, created, float64(created)/max(elapsed.Seconds(), 0.001), failures)
	for i, short := range []string{"create", "get", "queue", "approve"} {
		fmt.Fprintf(&sb, " %s %.0f", short, p99[i])
	}
	return sb.String()
}

// IsTerminal reports whether f is a terminal (a character device), where a live line that
// redraws itself belongs; a file or a pipe gets only the report.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
