package simuser

import (
	"context"
	"net/http"
	"time"

	apiclient "github.com/medreq/pyxis/api/client"
)

// Retry sends op as u until an answer not worth trying again (anything but no answer, a 5xx
// or a 429), or until bound has passed or ctx ends, as a careful client retries what a fault
// may have cut. The waits between tries grow from 100ms to a second, and are at least what
// an answer's Retry-After asks, up to 2 seconds (the faults it meets heal in seconds). each,
// when set, sees every try's answer. Retry returns the last answer and how many tries it
// took. An operation that creates carries its Idempotency-Key on every try, so a retry finds
// what an earlier try made.
func (c *Client) Retry(ctx context.Context, u *User, op Operation, out any, bound time.Duration, each func(Answer)) (Answer, int) {
	deadline := time.Now().Add(bound)
	wait := 100 * time.Millisecond
	for tries := 1; ; tries++ {
		a := c.Call(ctx, u, op, out)
		if each != nil {
			each(a)
		}
		retry := a.Err != nil || a.Status >= 500 || a.Status == http.StatusTooManyRequests
		if !retry || time.Now().After(deadline) || ctx.Err() != nil {
			return a, tries
		}
		d := wait
		if after, ok := apiclient.RetryAfter(&http.Response{Header: a.Header}); ok {
			d = max(d, min(after, 2*time.Second))
		}
		if !Pause(ctx, d) {
			return a, tries
		}
		wait = min(2*wait, time.Second)
	}
}

// Pause waits d, as a simulated person does between two things, or until ctx ends; it reports
// whether ctx is still live.
func Pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
