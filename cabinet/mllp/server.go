package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Handler answers one message: it returns the acknowledgment to send back, or nil to send
// nothing. The context ends when the server is shut down hard; it carries the peer
// (PeerFromContext) and the connection (ConnFromContext).
type Handler func(ctx context.Context, msg []byte) []byte

// ServerOptions tune a Server; zero values take the defaults shown.
type ServerOptions struct {
	// IdleTimeout is how long a connection may stay silent between frames before it is
	// closed (10m).
	IdleTimeout time.Duration
	// FrameTimeout is how long one frame may take to arrive once its start block has (30s);
	// a connection that overruns it is closed.
	FrameTimeout time.Duration
	// WriteTimeout bounds writing one answer (30s).
	WriteTimeout time.Duration
	// FirstFrameTimeout is how long a new connection has to complete its first frame, TLS
	// handshake included (10s): silent connections cannot hold the connection slots that a
	// genuine cabinet needs for longer than that.
	FirstFrameTimeout time.Duration
	// MaxFrameSize bounds a message (MaxFrameSize). A connection holds at most one frame and
	// a 64 KiB read buffer at a time. A larger frame is refused unread: the connection is
	// closed without an answer, and nothing of the frame reaches a parser.
	MaxFrameSize int
	// AcceptPeer, when set, decides whether a peer may send at all, once the connection is
	// accepted (and its TLS handshake done) and before a byte of it is read: one that may not
	// is closed without an answer. An application checks that the peer is allowed for some
	// cabinet (its address or its certificate); which cabinet it may report for is checked
	// per message.
	AcceptPeer func(ctx context.Context, p Peer) error
	// OnRefused hears of refused peers, aggregated: at most one call a minute per address,
	// with the refusals counted since the previous call (for an audit entry).
	OnRefused func(addr netip.Addr, reason string, count int)
	// MaxRefusalsPerMinute bounds the refusals of one address in a minute (20): past it, its
	// connections are closed as soon as they are accepted, before TLS or any other work.
	MaxRefusalsPerMinute int
	// MaxConns bounds the open connections (64), MaxConnsPerPeer those from one IP address
	// (8). A connection over either is closed at once, and logged.
	MaxConns        int
	MaxConnsPerPeer int
	// TLS, when set, makes the server speak TLS; with ClientCAs and RequireAndVerifyClientCert
	// it requires a client certificate (see ServerTLSConfig). The handshake must end within
	// FrameTimeout.
	TLS *tls.Config
	// OnFrameError answers a bad frame, for instance with an AR built from fe.Head; nil, or
	// a nil answer, sends nothing. The connection is kept when the reader resynchronised.
	OnFrameError func(ctx context.Context, fe *FrameError) []byte
	// Logger receives connection-level problems (slog.Default()).
	Logger *slog.Logger
}

func (o ServerOptions) withDefaults() ServerOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.IdleTimeout, 10*time.Minute)
	def(&o.FrameTimeout, 30*time.Second)
	def(&o.FirstFrameTimeout, 10*time.Second)
	def(&o.WriteTimeout, 30*time.Second)
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = MaxFrameSize
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	if o.MaxConnsPerPeer <= 0 {
		o.MaxConnsPerPeer = 8
	}
	if o.MaxRefusalsPerMinute <= 0 {
		o.MaxRefusalsPerMinute = 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
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
	perPeer map[netip.Addr]int
	refusal refusals
	closing bool
	wg      sync.WaitGroup
}

type serverConn struct {
	// raw is the accepted connection, which Shutdown closes; nc is what the connection's
	// goroutine reads and writes (raw, or TLS over it).
	raw  net.Conn
	nc   net.Conn
	peer Peer
	idle bool // waiting for a frame, so Shutdown may close it
}

// Peer is who a message came from.
type Peer struct {
	// Addr is the remote address of the connection.
	Addr netip.AddrPort
	// CommonName is the subject common name of the client certificate the server verified,
	// empty without TLS or without a verified client certificate.
	CommonName string
}

type connKey struct{}

type peerKey struct{}

// ConnFromContext returns the connection a handler's message came in on. A handler that
// closes it (to simulate a peer that drops the line, say) should return nil; the server then
// ends that connection.
func ConnFromContext(ctx context.Context) (net.Conn, bool) {
	nc, ok := ctx.Value(connKey{}).(net.Conn)
	return nc, ok
}

// PeerFromContext returns who sent a handler's message: its address and, over TLS, its
// verified certificate's common name. An application checks with it that the peer may
// report for the cabinet it claims.
func PeerFromContext(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// WithPeer returns ctx carrying p as the peer of a message, as the server passes it to its
// handler: for applications that take messages by other means, and their tests.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// NewServer returns a server that answers messages with h.
func NewServer(h Handler, opts ServerOptions) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{handler: h, opts: opts.withDefaults(), ctx: ctx, cancel: cancel,
		conns: make(map[*serverConn]struct{}), perPeer: make(map[netip.Addr]int),
		refusal: refusals{byAddr: make(map[netip.Addr]*peerRefusals)}}
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
		if !s.admit(nc) {
			return nil
		}
	}
}

// admit registers a new connection and starts serving it, or closes it when the server is
// closing (reporting false) or the connection is over a cap.
func (s *Server) admit(nc net.Conn) bool {
	addr, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	ip := addr.Addr().Unmap()
	sc := &serverConn{raw: nc, nc: nc, peer: Peer{Addr: addr}}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		nc.Close()
		return false
	case s.refusal.overLimit(ip, s.opts.MaxRefusalsPerMinute, time.Now()):
		// Refused too often this minute: no handshake, no lookup, no log line.
		nc.Close()
		return true
	case len(s.conns) >= s.opts.MaxConns:
		nc.Close()
		s.opts.Logger.Warn("mllp connection refused: too many connections", "remote", addr.String(), "limit", s.opts.MaxConns)
		return true
	case s.perPeer[ip] >= s.opts.MaxConnsPerPeer:
		nc.Close()
		s.opts.Logger.Warn("mllp connection refused: too many connections from the peer", "remote", addr.String(), "limit", s.opts.MaxConnsPerPeer)
		return true
	}
	s.conns[sc] = struct{}{}
	s.perPeer[ip]++
	s.wg.Add(1)
	go s.serveConn(sc)
	return true
}

// forget unregisters a connection that has ended.
func (s *Server) forget(sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, sc)
	ip := sc.peer.Addr.Addr().Unmap()
	if s.perPeer[ip]--; s.perPeer[ip] <= 0 {
		delete(s.perPeer, ip)
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
			sc.raw.Close()
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
			sc.raw.Close()
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
