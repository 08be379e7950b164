// Package proxy is a TCP proxy that loses or delays what it carries, in either direction: the
// network partition of the fault scenarios (faultsuite), between the worker and the cabinet
// and between the cabinet and the MLLP listener.
package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a Proxy does with the bytes it carries.
type Mode int

// Proxy modes.
const (
	// Pass forwards both ways at once.
	Pass Mode = iota
	// Blackhole reads both ways and forwards nothing: a partition in which the connection
	// stays up and nothing arrives (frames and their ACKs are lost).
	Blackhole
	// DropReplies forwards what the client sends and drops what the server answers: the
	// message arrives, its ACK never does, so the sender sends it again.
	DropReplies
	// Delay forwards both ways after Delay: late ACKs, late frames.
	Delay
)

// String names the mode as the scenario logs print it.
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case DropReplies:
		return "drop-replies"
	case Delay:
		return "delay"
	}
	return "unknown"
}

// Proxy is a TCP proxy between a client and one server that can lose, or delay, what it
// carries, in either direction: the network partition of the fault scenarios.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  Mode
	delay time.Duration
	conns map[net.Conn]struct{}

	dropped atomic.Int64
	delayed atomic.Int64
	wg      sync.WaitGroup
}

// New listens on a free port of 127.0.0.1 and forwards every connection to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the mode; delay is how long Delay holds each chunk. Connections already open
// follow the new mode from their next chunk.
func (p *Proxy) Set(m Mode, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.delay = m, delay
}

// Cut closes every open connection, as a network that drops them does.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// Dropped and Delayed count the chunks (reads) lost and held back so far.
func (p *Proxy) Dropped() int64 { return p.dropped.Load() }

// Delayed counts the chunks held back by Delay so far.
func (p *Proxy) Delayed() int64 { return p.delayed.Load() }

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) track(c net.Conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(client, true)
	p.track(server, true)
	defer func() {
		p.track(client, false)
		p.track(server, false)
	}()
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client, false); done <- struct{}{} }()
	go func() { p.pipe(client, server, true); done <- struct{}{} }()
	<-done
	_ = client.Close()
	_ = server.Close()
	<-done
}

// pipe copies src to dst chunk by chunk, each as the mode says at the time it was read;
// reply is the server-to-client direction.
func (p *Proxy) pipe(dst, src net.Conn, reply bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			mode, delay := p.mode, p.delay
			p.mu.Unlock()
			switch {
			case mode == Blackhole, mode == DropReplies && reply:
				p.dropped.Add(1)
				continue
			case mode == Delay:
				p.delayed.Add(1)
				time.Sleep(delay)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return
		}
	}
}
