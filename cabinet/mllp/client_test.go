package mllp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServer runs a server on a free loopback port until the test ends.
func startServer(t *testing.T, h Handler, opts ServerOptions) (*Server, string) {
	t.Helper()
	s := NewServer(h, opts)
	require.NoError(t, s.Listen("127.0.0.1:0"))
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, s.Addr().String()
}

func echo(_ context.Context, msg []byte) []byte { return append([]byte("ACK:"), msg...) }

// openConns is how many connections the server holds open.
func openConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestClientPoolIsBoundedAndAnswersMatch(t *testing.T) {
	const senders = 8
	var (
		mu      sync.Mutex
		changed = sync.NewCond(&mu)
		remotes = map[string]bool{}
		// inFlight counts the messages the handler holds, active the senders with messages
		// still to send.
		inFlight, active = 0, senders
	)
	// The handler holds each message until another is in flight too (or no other sender is
	// left to send one), so both connections of the pool are busy whenever a sender wants
	// one: a client that opened more than allowed would show.
	h := func(ctx context.Context, msg []byte) []byte {
		nc, ok := ConnFromContext(ctx)
		require.True(t, ok)
		mu.Lock()
		remotes[nc.RemoteAddr().String()] = true
		inFlight++
		changed.Broadcast()
		for inFlight < 2 && active >= 2 && ctx.Err() == nil {
			changed.Wait()
		}
		inFlight--
		mu.Unlock()
		return echo(ctx, msg)
	}
	_, addr := startServer(t, h, ServerOptions{})
	c := NewClient(addr, ClientOptions{MaxConns: 2})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			defer func() {
				mu.Lock()
				active--
				changed.Broadcast()
				mu.Unlock()
			}()
			for i := range 5 {
				msg := fmt.Sprintf("MSH|%d-%d", g, i)
				ack, err := c.Send(ctx, []byte(msg))
				if assert.NoError(t, err) {
					assert.Equal(t, "ACK:"+msg, string(ack))
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.LessOrEqual(t, len(remotes), 2, "connections opened: %v", remotes)
}

func TestClientReplacesAnIdleConnectionThePeerClosed(t *testing.T) {
	s, addr := startServer(t, echo, ServerOptions{IdleTimeout: 100 * time.Millisecond})
	c := NewClient(addr, ClientOptions{MaxConns: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Send(ctx, []byte("one"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return openConns(s) == 0 }, 5*time.Second, 10*time.Millisecond,
		"the server drops the idle connection")
	ack, err := c.Send(ctx, []byte("two"))
	require.NoError(t, err)
	assert.Equal(t, "ACK:two", string(ack))
}

func TestClientFailures(t *testing.T) {
	slow := func(ctx context.Context, msg []byte) []byte {
		select {
		case <-time.After(400 * time.Millisecond):
		case <-ctx.Done():
		}
		return echo(ctx, msg)
	}
	silent := func(context.Context, []byte) []byte { return nil }
	tests := []struct {
		name    string
		handler Handler // nil: nothing listens
		opts    ClientOptions
		ctxWait time.Duration
		want    error
	}{
		{"no answer within the ACK timeout", slow, ClientOptions{AckTimeout: 100 * time.Millisecond}, 5 * time.Second, ErrNoAck},
		{"peer answers nothing", silent, ClientOptions{AckTimeout: 100 * time.Millisecond}, 5 * time.Second, ErrNoAck},
		{"caller's deadline first", slow, ClientOptions{}, 100 * time.Millisecond, context.DeadlineExceeded},
		{"connection refused", nil, ClientOptions{InitialBackoff: 20 * time.Millisecond}, 5 * time.Second, errConnRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			if tt.handler != nil {
				_, addr = startServer(t, tt.handler, ServerOptions{})
			}
			c := NewClient(addr, tt.opts)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxWait)
			defer cancel()
			start := time.Now()
			_, err := c.Send(ctx, []byte("MSH|x"))
			require.Error(t, err)
			if tt.want == errConnRefused {
				var op *net.OpError
				assert.ErrorAs(t, err, &op)
				assert.NotErrorIs(t, err, ErrMaybeSent, "never written: the peer cannot have it")
			} else {
				assert.ErrorIs(t, err, tt.want)
				assert.ErrorIs(t, err, ErrMaybeSent, "written, unanswered: the peer may have it")
			}
			assert.Less(t, time.Since(start), 2*time.Second)
		})
	}
}

// TestClientClosesAConnectionWhoseAnswerIsRefused: when the caller's check refuses an
// answer (it acknowledges another message), the connection is not reused: the next message
// goes on a new one, so it is never answered by what was meant for an earlier one.
func TestClientClosesAConnectionWhoseAnswerIsRefused(t *testing.T) {
	var (
		mu      sync.Mutex
		remotes []string
	)
	_, addr := startServer(t, func(ctx context.Context, msg []byte) []byte {
		nc, _ := ConnFromContext(ctx)
		mu.Lock()
		remotes = append(remotes, nc.RemoteAddr().String())
		mu.Unlock()
		return echo(ctx, msg)
	}, ServerOptions{})
	c := NewClient(addr, ClientOptions{MaxConns: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wrong := errors.New("acknowledges another message")
	ack, err := c.SendCheck(ctx, []byte("one"), func([]byte) error { return wrong })
	assert.Equal(t, "ACK:one", string(ack), "the answer is returned with the error")
	assert.ErrorIs(t, err, wrong)
	assert.ErrorIs(t, err, ErrMaybeSent)
	for _, msg := range []string{"two", "three"} {
		ack, err = c.SendCheck(ctx, []byte(msg), func(a []byte) error { return nil })
		require.NoError(t, err)
		assert.Equal(t, "ACK:"+msg, string(ack))
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, remotes, 3)
	assert.NotEqual(t, remotes[0], remotes[1], "a new connection after the refused answer")
	assert.Equal(t, remotes[1], remotes[2], "an accepted answer keeps the connection")
}

// errConnRefused stands for "a dial error" in the table above.
var errConnRefused = errors.New("connection refused")

func TestClientBacksOffBetweenFailedConnects(t *testing.T) {
	addr := freeAddr(t)
	c := NewClient(addr, ClientOptions{DialAttempts: 3, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	defer c.Close()
	start := time.Now()
	_, err := c.Send(context.Background(), []byte("x"))
	require.Error(t, err)
	// Waits of ~50ms and ~100ms (±20%) separate the three attempts.
	assert.GreaterOrEqual(t, time.Since(start), 110*time.Millisecond)

	// The next attempt is due ~200ms later: a caller with less time fails at once.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = c.Send(ctx, []byte("x"))
	assert.ErrorIs(t, err, ErrBackoff)

	// Once the address answers, the client connects again, as soon as its back-off lets it.
	s := NewServer(echo, ServerOptions{})
	require.NoError(t, s.Listen(addr))
	go func() { _ = s.Serve(context.Background()) }()
	defer s.Close()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ack, err := c.Send(context.Background(), []byte("back"))
		if assert.NoError(ct, err) {
			assert.Equal(ct, "ACK:back", string(ack))
		}
	}, 5*time.Second, 20*time.Millisecond)
}

func TestClientClosed(t *testing.T) {
	_, addr := startServer(t, echo, ServerOptions{})
	c := NewClient(addr, ClientOptions{})
	_, err := c.Send(context.Background(), []byte("x"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = c.Send(context.Background(), []byte("x"))
	assert.ErrorIs(t, err, ErrClientClosed)
	assert.Equal(t, addr, c.Addr())
}
