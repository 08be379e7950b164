package db

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// requestChangedChannel is the channel migration 0016's trigger notifies on every insert or
// update of a request's projection row, with "<request id> <version>" as the payload.
// NOTIFY is delivered at commit and to every session of the cluster that listens, so a
// change written by any worker reaches the waiters of every api replica.
const requestChangedChannel = "pyxis_request_changed"

// RequestChanges tells waiters that a request's projection changed. One dedicated
// connection listens for all of them, started with the first subscription: a waiter holds a
// channel, not a database connection or a goroutine of its own.
type RequestChanges struct {
	pool interface {
		connConfig() *pgx.ConnConfig
	}
	ctx context.Context

	mu   sync.Mutex
	subs map[string]map[*subscription]struct{} // by request id; "" is every request
	once sync.Once
	// ready is closed once the listener has issued LISTEN (or given up because ctx ended),
	// so a subscriber that reads after Subscribe returns cannot miss a change committed
	// after its read.
	ready chan struct{}
}

type subscription struct{ ch chan struct{} }

// ListenChanges returns the changes of the store's requests, listened for on a connection
// of its own until ctx ends. It connects only when somebody first subscribes.
func (s *RequestStore) ListenChanges(ctx context.Context) *RequestChanges {
	return &RequestChanges{pool: s.conn, ctx: ctx, subs: map[string]map[*subscription]struct{}{},
		ready: make(chan struct{})}
}

func (c conn) connConfig() *pgx.ConnConfig { return c.pool.Config().ConnConfig.Copy() }

// Subscribe returns a channel that receives a value after each committed change of the
// request id ("" for every request), coalescing changes the subscriber has not taken yet,
// and after the listener reconnects (changes may have been missed meanwhile). It returns
// once the listener is listening, so a read made after it cannot miss a later change. Call
// cancel when done.
func (r *RequestChanges) Subscribe(ctx context.Context, id string) (<-chan struct{}, func()) {
	r.once.Do(func() { go r.listen() })
	sub := &subscription{ch: make(chan struct{}, 1)}
	r.mu.Lock()
	if r.subs[id] == nil {
		r.subs[id] = map[*subscription]struct{}{}
	}
	r.subs[id][sub] = struct{}{}
	r.mu.Unlock()
	select {
	case <-r.ready:
	case <-ctx.Done():
	}
	return sub.ch, func() {
		r.mu.Lock()
		delete(r.subs[id], sub)
		if len(r.subs[id]) == 0 {
			delete(r.subs, id)
		}
		r.mu.Unlock()
	}
}

// wake signals the subscribers of id and those of every request; with all, every one. A
// notification looks up its request's subscribers: it does not walk every waiting request.
func (r *RequestChanges) wake(id string, all bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if all {
		for _, subs := range r.subs {
			signal(subs)
		}
		return
	}
	signal(r.subs[id])
	if id != "" {
		signal(r.subs[""])
	}
}

// signal wakes each of subs once; one already signalled and not yet woken keeps its one
// wake-up, which covers both changes.
func signal(subs map[*subscription]struct{}) {
	for sub := range subs {
		select {
		case sub.ch <- struct{}{}:
		default:
		}
	}
}

// listen keeps a connection that LISTENs until r.ctx ends, reconnecting with back-off.
func (r *RequestChanges) listen() {
	var readyOnce sync.Once
	markReady := func() { readyOnce.Do(func() { close(r.ready) }) }
	defer markReady()
	backoff := 100 * time.Millisecond
	for r.ctx.Err() == nil {
		err := r.listenOnce(markReady)
		if r.ctx.Err() != nil {
			return
		}
		slog.Warn("request changes: listener lost; waiters are woken to read again", "error", err, "retry_in", backoff)
		// Whatever was committed while no one listened is not notified again.
		r.wake("", true)
		// Waiters must not hang on a listener that cannot connect: they fall back to
		// their own deadline, and the first subscribers are released now.
		markReady()
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (r *RequestChanges) listenOnce(listening func()) error {
	conn, err := pgx.ConnectConfig(r.ctx, r.pool.connConfig())
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	if _, err := conn.Exec(r.ctx, "LISTEN "+requestChangedChannel); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(r.ctx)
		if err != nil {
			return err
		}
		id, version, ok := strings.Cut(n.Payload, " ")
		if _, perr := strconv.ParseInt(version, 10, 64); !ok || perr != nil {
			continue
		}
		r.wake(id, false)
	}
}
