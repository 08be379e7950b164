package db

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// changesChannel is the Postgres channel the projection's trigger notifies (migration 0013).
const changesChannel = "pyxis_request_changes"

// Change says that a request of the projection moved: a new transition was recorded. It is a
// hint to read again, never the data itself. A Change with an empty RequestID means that
// changes may have been missed (the listening connection was lost): read everything again.
type Change struct {
	RequestID string
	Status    string
}

// Broker listens to the projection's notifications on one connection and hands them to
// every subscriber in this process: the console's live views (server-sent events), and
// whatever else waits for a request to move (a long poll). Because the notifications come
// from Postgres on commit, a change recorded through any api replica or worker reaches the
// subscribers of every replica. It is safe for concurrent use; Close stops it.
type Broker struct {
	pool   *pgxpool.Pool
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	ch     chan Change
	filter func(Change) bool
}

// subscriberBuffer bounds what a slow subscriber may hold; beyond it changes are dropped for
// that subscriber, which is harmless for hints: it reads again on the next one it gets.
const subscriberBuffer = 64

// NewBroker starts listening on a connection of pool (reconnecting when it is lost) until
// Close. The pool stays owned by the caller.
func NewBroker(pool *pgxpool.Pool) *Broker {
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{pool: pool, cancel: cancel, done: make(chan struct{}), subs: map[*subscription]struct{}{}}
	go b.run(ctx)
	return b
}

// Subscribe returns a channel of the changes filter accepts (nil: all), and the function
// that ends the subscription.
func (b *Broker) Subscribe(filter func(Change) bool) (<-chan Change, func()) {
	s := &subscription{ch: make(chan Change, subscriberBuffer), filter: filter}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
		})
	}
}

// Close stops listening. Subscribers get nothing more; their channels stay open.
func (b *Broker) Close() {
	b.cancel()
	<-b.done
}

func (b *Broker) publish(c Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.filter != nil && c.RequestID != "" && !s.filter(c) {
			continue
		}
		select {
		case s.ch <- c:
		default:
		}
	}
}

func (b *Broker) run(ctx context.Context) {
	defer close(b.done)
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		err := b.listen(ctx, func() {
			if !first {
				// What happened while no connection listened is unknown: everyone reads again.
				b.publish(Change{})
			}
			backoff = 100 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		slog.WarnContext(ctx, "projection notifications lost; listening again", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen holds one connection, LISTENs, calls listening, and publishes every notification
// until an error.
func (b *Broker) listen(ctx context.Context, listening func()) error {
	pc, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that LISTENed goes back to no pool.
	conn := pc.Hijack()
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, status, _ := strings.Cut(n.Payload, " ")
		b.publish(Change{RequestID: id, Status: status})
	}
}

// NewBroker starts a Broker over the store's pool (NewBroker); Close it when done.
func (s *Store) NewBroker() *Broker { return NewBroker(s.pool) }
