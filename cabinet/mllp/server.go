package mllp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Handler answers one message: it returns the acknowledgment to send back, or nil to send
// nothing. The context ends when the server is shut down hard.
type Handler func(ctx context.Context, msg []byte) []byte

// ServerOptions tune a Server; zero values take the defaults shown.
type ServerOptions struct {
	// ReadTimeout is how long a connection may stay silent, and how long one frame may take
	// to arrive, before it is closed (10m).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one answer (30s).
	WriteTimeout time.Duration
	// MaxFrameSize bounds a message (MaxFrameSize).
	MaxFrameSize int
	// OnFrameError answers a bad frame, for instance with an AR built from fe.Head; nil, or
	// a nil answer, sends nothing. The connection is kept when the reader resynchronised.
	OnFrameError func(ctx context.Context, fe *FrameError) []byte
	// Logger receives connection-level problems (slog.Default()).
	Logger *slog.Logger
}

// Server accepts MLLP connections and runs its handler for each message, one goroutine per
// connection; messages on one connection are answered in order.
type Server struct {
	handler Handler
	opts    ServerOptions
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*serverConn]struct{}
	closing bool
	wg      sync.WaitGroup
}

type serverConn struct {
	nc   net.Conn
	idle bool // waiting for a frame, so Shutdown may close it
}

type connKey struct{}

// ConnFromContext returns the connection a handler's message came in on. A handler that
// closes it (to simulate a peer that drops the line, say) should return nil; the server then
// ends that connection.
func ConnFromContext(ctx context.Context) (net.Conn, bool) {
	nc, ok := ctx.Value(connKey{}).(net.Conn)
	return nc, ok
}

// NewServer returns a server that answers messages with h.
func NewServer(h Handler, opts ServerOptions) *Server {
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 10 * time.Minute
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.MaxFrameSize <= 0 {
		opts.MaxFrameSize = MaxFrameSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{handler: h, opts: opts, ctx: ctx, cancel: cancel, conns: make(map[*serverConn]struct{})}
}

// Listen binds the server's TCP address (host:port; port 0 picks a free one).
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mllp: listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.closing {
		ln.Close()
		return errors.New("mllp: server already listening or closed")
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections until Close, Shutdown or the end of ctx (which closes the
// server and waits for its handlers). It returns nil once the server is closed.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("mllp: Serve before Listen")
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// A transient failure (out of file descriptors, say): wait and go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.opts.Logger.Warn("mllp accept failed", "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		sc := &serverConn{nc: nc}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(sc)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// setIdle marks the connection idle or busy; it reports false when the server is closing and
// the connection should end.
func (s *Server) setIdle(sc *serverConn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc.idle = idle
	return !s.closing
}

// Shutdown stops accepting, closes idle connections and waits for the handlers in flight to
// answer. When ctx ends first, it cancels the handlers' context, closes every connection and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	for sc := range s.conns {
		if sc.idle {
			sc.nc.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for sc := range s.conns {
			sc.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Close shuts the server down, waiting for the handlers in flight.
func (s *Server) Close() error {
	return s.Shutdown(context.Background())
}
