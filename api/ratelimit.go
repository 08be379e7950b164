package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// CodeRateLimited is the error code of a 429.
const CodeRateLimited = "rate_limited"

// maxTrackedUsers bounds the limiter's memory; idle users are forgotten long before that.
const maxTrackedUsers = 100_000

// userLimiter gives each authenticated user (token subject) a token bucket: rate requests per
// second on average, bursts of up to burst. A user idle long enough for their bucket to fill
// up again is forgotten, which changes nothing for them and keeps memory bounded.
type userLimiter struct {
	rate  rate.Limit
	burst int
	idle  time.Duration
	now   func() time.Time

	mu        sync.Mutex
	users     map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newUserLimiter returns a limiter; a non-positive rate returns nil, which limits nothing.
func newUserLimiter(perSecond float64, burst int) *userLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &userLimiter{
		rate: rate.Limit(perSecond), burst: burst, idle: max(refill, time.Minute),
		now: time.Now, users: map[string]*bucket{},
	}
}

// take spends one token of user's bucket, or says how long until one is there.
func (l *userLimiter) take(user string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		l.sweep(now)
	}
	b, ok := l.users[user]
	if !ok {
		if len(l.users) >= maxTrackedUsers {
			l.evictOldest()
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.users[user] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// sweep forgets users idle for longer than it takes their bucket to fill.
func (l *userLimiter) sweep(now time.Time) {
	for u, b := range l.users {
		if now.Sub(b.seen) >= l.idle {
			delete(l.users, u)
		}
	}
	l.lastSweep = now
}

func (l *userLimiter) evictOldest() {
	var oldest string
	var at time.Time
	for u, b := range l.users {
		if oldest == "" || b.seen.Before(at) {
			oldest, at = u, b.seen
		}
	}
	delete(l.users, oldest)
}

// tracked reports how many users the limiter holds (for tests).
func (l *userLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.users)
}

// middleware answers 429 with Retry-After to a user over their rate. It runs after
// authentication: users are told apart by their token's subject.
func (l *userLimiter) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if l == nil {
			c.Next()
			return
		}
		ok, wait := l.take(actor(c).ID)
		if !ok {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			abort(c, newError(http.StatusTooManyRequests, CodeRateLimited, "too many requests; slow down and retry after the time in Retry-After", nil))
			return
		}
		c.Next()
	}
}
