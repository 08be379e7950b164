package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"
)

// Errors of a Client; test for them with errors.Is.
var (
	// ErrClientClosed: Send was called after Close.
	ErrClientClosed = errors.New("mllp: client closed")
	// ErrNoAck: the peer did not answer within the ACK timeout.
	ErrNoAck = errors.New("mllp: no acknowledgment in time")
	// ErrBackoff: earlier connection attempts failed and the next one is not due before the
	// caller's deadline.
	ErrBackoff = errors.New("mllp: backing off after failed connects")
	// ErrMaybeSent is wrapped by every error of a Send that had begun writing the message
	// when it failed (no answer in time, the connection lost while waiting, an answer the
	// caller's check refused): the peer may have received it. An error without it means the
	// message never left (no connection, the client closed, the caller gave up waiting for
	// a connection).
	ErrMaybeSent = errors.New("mllp: the message may have reached the peer")
)

// ClientOptions tune a Client; zero values take the defaults shown.
type ClientOptions struct {
	// DialTimeout bounds one connection attempt (5s).
	DialTimeout time.Duration
	// AckTimeout bounds the wait for the answer to one message (30s). The caller's context
	// deadline applies too, whichever comes first.
	AckTimeout time.Duration
	// MaxConns bounds the connections to the address, idle and busy together (1). A Send
	// that finds them all busy waits for one. With more than one, messages sent one after
	// the other may overtake each other.
	MaxConns int
	// IdleTimeout: an idle connection older than this is closed instead of reused (1m).
	IdleTimeout time.Duration
	// DialAttempts is how many times one Send tries to connect (3).
	DialAttempts int
	// InitialBackoff and MaxBackoff bound the exponential wait between failed connection
	// attempts (100ms, 5s); the wait is shared by all Sends to the address.
	InitialBackoff, MaxBackoff time.Duration
	// MaxFrameSize bounds an answer's size (MaxFrameSize).
	MaxFrameSize int
	// Dial opens connections; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS, when set, runs a TLS handshake (with this configuration, and a client certificate
	// when it holds one) on each new connection, within DialTimeout.
	TLS *tls.Config
}

func (o ClientOptions) withDefaults() ClientOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DialTimeout, 5*time.Second)
	def(&o.AckTimeout, 30*time.Second)
	def(&o.IdleTimeout, time.Minute)
	def(&o.InitialBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 5*time.Second)
	if o.MaxConns <= 0 {
		o.MaxConns = 1
	}
	if o.DialAttempts <= 0 {
		o.DialAttempts = 3
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = MaxFrameSize
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	return o
}

// Client sends messages to one address over a bounded pool of connections. It is safe for
// concurrent use.
type Client struct {
	addr string
	opts ClientOptions
	// slots holds one entry per allowed connection: an idle connection, or nil for a free
	// slot. Taking an entry is the right to use (or open) one connection.
	slots chan *clientConn

	mu       sync.Mutex
	closed   bool
	failures int
	retryAt  time.Time
}

type clientConn struct {
	nc        net.Conn
	r         *Reader
	idleSince time.Time
}

// NewClient returns a client for addr (host:port). It connects lazily, on the first Send.
func NewClient(addr string, opts ClientOptions) *Client {
	opts = opts.withDefaults()
	c := &Client{addr: addr, opts: opts, slots: make(chan *clientConn, opts.MaxConns)}
	for range opts.MaxConns {
		c.slots <- nil
	}
	return c
}

// Addr returns the address the client sends to.
func (c *Client) Addr() string { return c.addr }

// Send sends one message and returns the payload of the answer. The answer is not checked:
// reading the acknowledgment is the caller's business (see SendCheck). An idle connection
// that the peer has closed meanwhile is replaced once, transparently; every other failure is
// returned and the connection dropped, since a late answer would otherwise be read as the
// next one's.
func (c *Client) Send(ctx context.Context, msg []byte) ([]byte, error) {
	return c.SendCheck(ctx, msg, nil)
}

// SendCheck is Send with a check of the answer before the connection is used again: when
// check returns an error (an acknowledgment of another message, say), the connection is
// closed rather than reused, since the answers on it are out of step with the messages, and
// SendCheck returns the answer with that error wrapped (and ErrMaybeSent). A nil check
// accepts every answer.
func (c *Client) SendCheck(ctx context.Context, msg []byte, check func(answer []byte) error) ([]byte, error) {
	var cn *clientConn
	select {
	case cn = <-c.slots:
	case <-ctx.Done():
		return nil, fmt.Errorf("mllp %s: waiting for a connection: %w", c.addr, ctx.Err())
	}
	if c.isClosed() {
		c.release(cn)
		return nil, ErrClientClosed
	}
	reused := cn != nil
	if cn != nil && time.Since(cn.idleSince) > c.opts.IdleTimeout {
		cn.nc.Close()
		cn, reused = nil, false
	}
	var err error
	if cn == nil {
		if cn, err = c.dial(ctx); err != nil {
			c.release(nil)
			return nil, err
		}
	}
	ack, err := c.roundTrip(ctx, cn, msg)
	if err != nil && reused && stale(err) && ctx.Err() == nil {
		cn.nc.Close()
		if cn, err = c.dial(ctx); err != nil {
			c.release(nil)
			return nil, err
		}
		ack, err = c.roundTrip(ctx, cn, msg)
	}
	if err == nil && check != nil {
		if cerr := check(ack); cerr != nil {
			err = fmt.Errorf("mllp %s: answer refused, connection closed: %w", c.addr, cerr)
		}
	}
	if err != nil {
		cn.nc.Close()
		c.release(nil)
		return ack, maybeSent{err}
	}
	cn.idleSince = time.Now()
	c.release(cn)
	return ack, nil
}

// maybeSent marks an error after the message began to be written: it reads as the error
// itself and matches ErrMaybeSent too.
type maybeSent struct{ err error }

func (e maybeSent) Error() string   { return e.err.Error() }
func (e maybeSent) Unwrap() []error { return []error{e.err, ErrMaybeSent} }

// release gives a slot back, closing the connection when the client is closed.
func (c *Client) release(cn *clientConn) {
	if cn != nil && c.isClosed() {
		cn.nc.Close()
		cn = nil
	}
	c.slots <- cn
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// stale reports an error that means the peer closed an idle connection before this use.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// roundTrip writes one frame and reads one back, within the ACK timeout and the context.
func (c *Client) roundTrip(ctx context.Context, cn *clientConn, msg []byte) ([]byte, error) {
	deadline := time.Now().Add(c.opts.AckTimeout)
	callerFirst := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, callerFirst = d, true
	}
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("mllp %s: %w", c.addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cn.nc.SetDeadline(time.Now()) })
	defer stop()
	if err := WriteFrame(cn.nc, msg); err != nil {
		return nil, c.ioError(ctx, "write", callerFirst, err)
	}
	ack, err := cn.r.ReadFrame()
	if err != nil {
		return nil, c.ioError(ctx, "read acknowledgment", callerFirst, err)
	}
	return ack, nil
}

// ioError wraps a failed read or write: with the context's error when the caller gave up or
// its deadline passed (the connection's deadline may fire a moment before the context's),
// with ErrNoAck on a timeout.
func (c *Client) ioError(ctx context.Context, op string, callerFirst bool, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mllp %s: %s: %w", c.addr, op, ctx.Err())
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		if callerFirst {
			return fmt.Errorf("mllp %s: %s: %w: %w", c.addr, op, ErrNoAck, context.DeadlineExceeded)
		}
		return fmt.Errorf("mllp %s: %s: %w: %w", c.addr, op, ErrNoAck, err)
	}
	return fmt.Errorf("mllp %s: %s: %w", c.addr, op, err)
}

// dial connects, retrying with exponential backoff up to DialAttempts times.
func (c *Client) dial(ctx context.Context) (*clientConn, error) {
	var last error
	for range c.opts.DialAttempts {
		if err := c.waitBackoff(ctx); err != nil {
			return nil, fmt.Errorf("mllp %s: %w (last error: %v)", c.addr, err, last)
		}
		dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
		nc, err := c.opts.Dial(dctx, "tcp", c.addr)
		if err == nil && c.opts.TLS != nil {
			cfg := c.opts.TLS
			if cfg.ServerName == "" {
				cfg = cfg.Clone()
				cfg.ServerName, _, _ = net.SplitHostPort(c.addr)
			}
			tc := tls.Client(nc, cfg)
			if err = tc.HandshakeContext(dctx); err != nil {
				nc.Close()
			}
			nc = tc
		}
		cancel()
		c.mu.Lock()
		if err == nil {
			c.failures, c.retryAt = 0, time.Time{}
			c.mu.Unlock()
			return &clientConn{nc: nc, r: NewReader(nc, c.opts.MaxFrameSize)}, nil
		}
		c.failures++
		c.retryAt = time.Now().Add(c.backoff(c.failures))
		c.mu.Unlock()
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("mllp %s: connect: %w", c.addr, last)
}

// backoff returns the wait after n consecutive failures, with ±20% jitter.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.InitialBackoff
	for i := 1; i < n && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// waitBackoff waits until the next connection attempt is due, failing at once when that is
// after the context's deadline.
func (c *Client) waitBackoff(ctx context.Context) error {
	c.mu.Lock()
	wait := time.Until(c.retryAt)
	c.mu.Unlock()
	if wait <= 0 {
		return ctx.Err()
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		return ErrBackoff
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the idle connections; busy ones close when their Send returns. Send fails
// with ErrClientClosed afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	drained := 0
drain:
	for range c.opts.MaxConns {
		select {
		case cn := <-c.slots:
			if cn != nil {
				cn.nc.Close()
			}
			drained++
		default:
			break drain
		}
	}
	for range drained {
		c.slots <- nil
	}
	return nil
}
