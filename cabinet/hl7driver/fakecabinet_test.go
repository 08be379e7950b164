package hl7driver_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// received is one message a fakeCabinet got, and on which of its connections (numbered from
// 1 in the order they were opened).
type received struct {
	raw  []byte
	conn int
}

// script says what a cabinet answers a message it receives: the frames to send back, in
// order (none: no answer at all). seen is how many times the cabinet received a message of
// the same control id before this one, so that the answers do not depend on which of two
// connections a message arrived on first.
type script func(seen int, raw []byte) [][]byte

// fakeCabinet is a cabinet server over real TCP whose answers a test scripts. It records
// what it received. It stands for the cabinet servers and engines whose quirks the
// simulator does not show (two answers to one message, silence).
type fakeCabinet struct {
	addr   string
	answer script

	mu    sync.Mutex
	got   []received
	seen  map[string]int
	conns map[net.Conn]int
}

func newFakeCabinet(t *testing.T, answer script) *fakeCabinet {
	t.Helper()
	f := &fakeCabinet{answer: answer, conns: map[net.Conn]int{}, seen: map[string]int{}}
	srv := mllp.NewServer(f.handle, mllp.ServerOptions{})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	go func() { _ = srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.addr = srv.Addr().String()
	return f
}

func (f *fakeCabinet) handle(ctx context.Context, raw []byte) []byte {
	nc, _ := mllp.ConnFromContext(ctx)
	f.mu.Lock()
	id, ok := f.conns[nc]
	if !ok {
		id = len(f.conns) + 1
		f.conns[nc] = id
	}
	f.got = append(f.got, received{raw: append([]byte(nil), raw...), conn: id})
	key := controlIDOf(raw)
	seen := f.seen[key]
	f.seen[key]++
	f.mu.Unlock()
	frames := f.answer(seen, raw)
	if len(frames) == 0 {
		return nil
	}
	for _, fr := range frames[:len(frames)-1] {
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_ = mllp.WriteFrame(nc, fr)
	}
	return frames[len(frames)-1]
}

// received returns what the cabinet got so far.
func (f *fakeCabinet) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

// controlIDOf returns a message's MSH-10, or the message itself when its MSH does not read.
func controlIDOf(raw []byte) string {
	if h, err := hl7.ParseHeader(raw); err == nil {
		return h.ControlID
	}
	return string(raw)
}

// answers returns what s answers msgs, received in this order.
func answers(s script, msgs [][]byte) [][]byte {
	seen := map[string]int{}
	var out [][]byte
	for _, m := range msgs {
		key := controlIDOf(m)
		out = append(out, s(seen[key], m)...)
		seen[key]++
	}
	return out
}

// wireLog records the frames a driver writes, in the order it writes them, and on which of
// its connections (numbered from 1 in the order they were opened): what the system sends,
// whatever the cabinet at the other end gets to read before a connection is closed.
type wireLog struct {
	mu     sync.Mutex
	frames []received
	conns  int
}

// dial opens a connection whose writes are logged; it is the driver's ClientOptions.Dial.
func (w *wireLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns++
	return &loggedConn{Conn: nc, id: w.conns, log: w}, nil
}

// written returns the frames written so far.
func (w *wireLog) written() []received {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]received(nil), w.frames...)
}

// messages returns the messages written so far.
func (w *wireLog) messages() [][]byte {
	var out [][]byte
	for _, r := range w.written() {
		out = append(out, r.raw)
	}
	return out
}

// loggedConn logs each frame written: mllp writes one frame per Write.
type loggedConn struct {
	net.Conn
	id  int
	log *wireLog
}

func (c *loggedConn) Write(p []byte) (int, error) {
	msg := bytes.TrimSuffix(bytes.TrimPrefix(p, []byte{mllp.StartBlock}), []byte{mllp.EndBlock, mllp.CarriageReturn})
	c.log.mu.Lock()
	c.log.frames = append(c.log.frames, received{raw: append([]byte(nil), msg...), conn: c.id})
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

// ackOf returns the acknowledgment a cabinet answers raw with.
func ackOf(t *testing.T, raw []byte, a hl7.Ack) []byte {
	t.Helper()
	h, err := hl7.ParseHeader(raw)
	require.NoError(t, err)
	out, err := hl7.Reply(h, a, time.Date(2026, 3, 14, 9, 26, 54, 0, time.UTC))
	require.NoError(t, err)
	return out
}

// accept answers every message AA.
func accept(t *testing.T) script {
	return func(_ int, raw []byte) [][]byte { return [][]byte{ackOf(t, raw, hl7.Ack{Code: hl7.AckAccept})} }
}

// fastDriver returns a driver with short timeouts, closed with the test, and the log of
// what it writes.
func fastDriver(t *testing.T, opts hl7driver.Options) (*hl7driver.Driver, *wireLog) {
	t.Helper()
	log := &wireLog{}
	opts.Client.Dial = log.dial
	if opts.AckTimeout == 0 {
		opts.AckTimeout = time.Second
	}
	opts.ConnectTimeout = 500 * time.Millisecond
	opts.Client.InitialBackoff = 20 * time.Millisecond
	opts.Client.DialAttempts = 2
	d := hl7driver.New(opts)
	t.Cleanup(func() { _ = d.Close() })
	return d, log
}
