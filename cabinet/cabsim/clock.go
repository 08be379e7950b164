package cabsim

import "time"

// clock is the simulator's time for what it simulates: when orders are accepted, fall due
// and are withdrawn. The wall clock runs it; a test sets one it moves by hand, so that "due
// while the simulator was down" depends on nothing but the test. (Transport timeouts, the
// resend back-off and the state file's pacing keep to the wall clock.)
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) timer
}

// timer is a pending AfterFunc; Stop reports whether it stopped f from being called.
type timer interface {
	Stop() bool
}

// wallClock is the real time.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }
