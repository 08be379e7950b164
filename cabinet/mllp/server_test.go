package mllp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dialRaw opens a plain TCP connection that the test writes arbitrary bytes to.
func dialRaw(t *testing.T, addr string) (net.Conn, *Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	return nc, NewReader(nc, 0)
}

func TestServerBadFrames(t *testing.T) {
	onBad := func(_ context.Context, fe *FrameError) []byte {
		if fe.Head == nil {
			return nil
		}
		return append([]byte("AR:"), fe.Head[:min(len(fe.Head), 8)]...)
	}
	big := bytes.Repeat([]byte("x"), 64)
	tests := []struct {
		name string
		send []byte
		// want are the answers, in order; closed says the server then ends the connection.
		want   []string
		closed bool
	}{
		{"a first byte other than a start block: closed without an answer", append([]byte("GET / HTTP/1.1\r\n\r\n"), AppendFrame(nil, []byte("ok"))...),
			nil, true},
		{"garbage between frames is dropped, the next frame answered", append(append(AppendFrame(nil, []byte("one")), "junk"...), AppendFrame(nil, []byte("ok"))...),
			[]string{"ACK:one", "ACK:ok"}, false},
		{"oversize frame: closed unread, without an answer", append(AppendFrame(nil, append([]byte("MSH|big"), big...)), AppendFrame(nil, []byte("ok"))...),
			nil, true},
		{"oversize frame after a good one: the good one answered, then closed", append(AppendFrame(nil, []byte("ok")), AppendFrame(nil, append([]byte("MSH|big"), big...))...),
			[]string{"ACK:ok"}, true},
		{"truncated frame answered AR, the next one served", append([]byte("\x0bMSH|cut"), AppendFrame(nil, []byte("ok"))...),
			[]string{"AR:MSH|cut", "ACK:ok"}, false},
		{"endless garbage closes the connection", bytes.Repeat([]byte("g"), 100), nil, true},
		{"handler panic: no answer, the connection goes on", append(AppendFrame(nil, []byte("boom")), AppendFrame(nil, []byte("ok"))...),
			[]string{"ACK:ok"}, false},
	}
	h := func(ctx context.Context, msg []byte) []byte {
		if string(msg) == "boom" {
			panic("boom")
		}
		return echo(ctx, msg)
	}
	_, addr := startServer(t, h, ServerOptions{MaxFrameSize: 50, OnFrameError: onBad})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, r := dialRaw(t, addr)
			_, err := nc.Write(tt.send)
			require.NoError(t, err)
			for _, want := range tt.want {
				got, err := r.ReadFrame()
				require.NoError(t, err)
				assert.Equal(t, want, string(got))
			}
			if tt.closed {
				_, err := r.ReadFrame()
				assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err), "got %v", err)
			}
		})
	}
	// None of that harmed a well-behaved client.
	c := NewClient(addr, ClientOptions{})
	defer c.Close()
	ack, err := c.Send(context.Background(), []byte("still here"))
	require.NoError(t, err)
	assert.Equal(t, "ACK:still here", string(ack))
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

func TestServerShutdownWaitsForHandlersInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := func(ctx context.Context, msg []byte) []byte {
		if string(msg) == "hold" {
			close(entered)
			<-release
		}
		return echo(ctx, msg)
	}
	s := NewServer(h, ServerOptions{})
	require.NoError(t, s.Listen("127.0.0.1:0"))
	go func() { _ = s.Serve(context.Background()) }()
	addr := s.Addr().String()

	idle, idleR := dialRaw(t, addr) // an idle connection: closed at once by Shutdown
	_ = idle
	busy := NewClient(addr, ClientOptions{})
	defer busy.Close()
	answer := make(chan error, 1)
	go func() {
		ack, err := busy.Send(context.Background(), []byte("hold"))
		if err == nil && string(ack) != "ACK:hold" {
			err = errors.New("wrong answer " + string(ack))
		}
		answer <- err
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()

	_, err := idleR.ReadFrame()
	assert.Error(t, err, "the idle connection is closed")
	select {
	case <-closed:
		t.Fatal("Close returned with a handler in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-answer, "the message in flight is answered")
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "no longer listening")
}

// A frame under way when Shutdown begins (its start block and part of it arrived) is read to
// its end and answered; the connection then ends.
func TestServerShutdownFinishesFrameUnderWay(t *testing.T) {
	s := NewServer(echo, ServerOptions{})
	require.NoError(t, s.Listen("127.0.0.1:0"))
	go func() { _ = s.Serve(context.Background()) }()
	addr := s.Addr().String()
	nc, r := dialRaw(t, addr)
	idle := func(want bool) func() bool {
		return func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			for sc := range s.conns {
				return sc.idle == want
			}
			return false
		}
	}
	// One message answered, and the connection waits for the next: idle.
	_, err := nc.Write(AppendFrame(nil, []byte("first")))
	require.NoError(t, err)
	_, err = r.ReadFrame()
	require.NoError(t, err)
	require.Eventually(t, idle(true), 5*time.Second, 5*time.Millisecond)
	// The next one starts: no longer idle, before Shutdown is called.
	frame := AppendFrame(nil, []byte("MSH|under way"))
	_, err = nc.Write(frame[:6])
	require.NoError(t, err)
	require.Eventually(t, idle(false), 5*time.Second, 5*time.Millisecond, "a frame under way is not idle")
	closed := make(chan error, 1)
	go func() { closed <- s.Shutdown(context.Background()) }()
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "the listener closes")
	_, err = nc.Write(frame[6:])
	require.NoError(t, err)
	got, err := r.ReadFrame()
	require.NoError(t, err, "the frame under way is answered")
	assert.Equal(t, "ACK:MSH|under way", string(got))
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}

func TestServerShutdownDeadlineCancelsHandlers(t *testing.T) {
	entered := make(chan struct{})
	h := func(ctx context.Context, msg []byte) []byte {
		close(entered)
		<-ctx.Done()
		return nil
	}
	s := NewServer(h, ServerOptions{})
	require.NoError(t, s.Listen("127.0.0.1:0"))
	go func() { _ = s.Serve(context.Background()) }()
	nc, _ := dialRaw(t, s.Addr().String())
	require.NoError(t, WriteFrame(nc, []byte("x")))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
}

func TestServeEndsWithItsContext(t *testing.T) {
	s := NewServer(echo, ServerOptions{})
	require.Error(t, s.Serve(context.Background()), "Serve before Listen")
	require.NoError(t, s.Listen("127.0.0.1:0"))
	require.Error(t, s.Listen("127.0.0.1:0"), "Listen twice")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
