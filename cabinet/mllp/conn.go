package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"
)

// serveConn reads frames from one connection and answers each until the peer leaves, the
// connection fails or the server closes.
func (s *Server) serveConn(sc *serverConn) {
	log := s.opts.Logger.With("remote", sc.peer.Addr.String())
	defer func() {
		sc.nc.Close()
		sc.raw.Close()
		s.forget(sc)
		s.wg.Done()
	}()
	// Until its first frame is complete, a connection is a stranger: it has FirstFrameTimeout
	// in all, handshake included.
	firstBy := time.Now().Add(s.opts.FirstFrameTimeout)
	if s.opts.TLS != nil {
		cn, err := s.handshake(sc, firstBy)
		if err != nil {
			s.refuse(sc.peer, "TLS handshake failed")
			return
		}
		sc.peer.CommonName = cn
		log = log.With("peer_cn", cn)
	}
	ctx := context.WithValue(context.WithValue(s.ctx, connKey{}, sc.nc), peerKey{}, sc.peer)
	if s.opts.AcceptPeer != nil {
		if err := s.opts.AcceptPeer(ctx, sc.peer); err != nil {
			// Before a byte is read: a stranger's frames cost nothing.
			s.refuse(sc.peer, err.Error())
			return
		}
	}
	r := NewReader(sc.nc, s.opts.MaxFrameSize)
	first := true
	r.OnFrameStart(func() {
		// A frame under way is in flight: Shutdown lets it finish and be answered.
		s.setIdle(sc, false)
		by := time.Now().Add(s.opts.FrameTimeout)
		if first && firstBy.Before(by) {
			by = firstBy
		}
		_ = sc.nc.SetReadDeadline(by)
	})
	if !s.setIdle(sc, true) {
		return
	}
	// A peer that does not open with a start block does not speak MLLP (an HTTP request
	// from a browser page, say): it gets no answer at all.
	_ = sc.nc.SetReadDeadline(firstBy)
	if c, err := r.peekByte(); err != nil || c != StartBlock {
		if err == nil {
			s.refuse(sc.peer, "the first byte is not an MLLP start block")
		}
		return
	}
	for {
		if !s.setIdle(sc, true) {
			return
		}
		by := time.Now().Add(s.opts.IdleTimeout)
		if first {
			by = firstBy
		}
		if err := sc.nc.SetReadDeadline(by); err != nil {
			return
		}
		msg, err := r.ReadFrame()
		if !s.setIdle(sc, false) && err != nil {
			return
		}
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					log.Info("mllp connection ends", "error", err)
				}
				return
			}
			if errors.Is(fe, ErrFrameTooLarge) {
				// Refused unread: no answer (building one would mean parsing it), and the
				// rest of the frame is not waited for.
				s.refuse(sc.peer, fmt.Sprintf("a frame larger than %d bytes", s.opts.MaxFrameSize))
				return
			}
			log.Warn("mllp bad frame", "error", fe, "resynced", fe.Resynced)
			if s.opts.OnFrameError != nil {
				if reply := s.safely(ctx, log, func() []byte { return s.opts.OnFrameError(ctx, fe) }); reply != nil {
					if !s.write(sc, reply) {
						return
					}
				}
			}
			if !fe.Resynced {
				return
			}
			continue
		}
		first = false
		reply := s.safely(ctx, log, func() []byte { return s.handler(ctx, msg) })
		if reply == nil {
			continue
		}
		if !s.write(sc, reply) {
			return
		}
	}
}

// refuse closes out a peer: logged and reported (OnRefused) at most once a minute per
// address, with the count of refusals since.
func (s *Server) refuse(p Peer, reason string) {
	ip := p.Addr.Addr().Unmap()
	report, count := s.refusal.add(ip, reason, time.Now())
	if !report {
		return
	}
	s.opts.Logger.Warn("mllp peer refused", "remote", ip.String(), "reason", reason, "refusals", count)
	if s.opts.OnRefused != nil {
		s.opts.OnRefused(ip, reason, count)
	}
}

// handshake runs the TLS handshake until by and returns the verified client certificate's
// common name ("" when none was verified).
func (s *Server) handshake(sc *serverConn, by time.Time) (string, error) {
	tc := tls.Server(sc.nc, s.opts.TLS)
	sc.nc = tc
	ctx, cancel := context.WithDeadline(s.ctx, by)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", err
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) > 0 && len(st.VerifiedChains[0]) > 0 {
		return st.VerifiedChains[0][0].Subject.CommonName, nil
	}
	return "", nil
}

// safely runs a handler, turning a panic into no answer: one bad message must not take the
// process down.
func (s *Server) safely(ctx context.Context, log *slog.Logger, f func() []byte) (reply []byte) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("mllp handler panicked", "panic", p, "stack", string(debug.Stack()))
			reply = nil
		}
	}()
	if ctx.Err() != nil {
		return nil
	}
	return f()
}

// write sends one answer; it reports false when the connection is unusable.
func (s *Server) write(sc *serverConn, reply []byte) bool {
	if err := sc.nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil {
		return false
	}
	if err := WriteFrame(sc.nc, reply); err != nil {
		s.opts.Logger.Info("mllp answer not sent", "remote", sc.peer.Addr.String(), "error", err)
		return false
	}
	return true
}
