package mllp

import (
	"context"
	"crypto/tls"
	"errors"
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
	if s.opts.TLS != nil {
		cn, err := s.handshake(sc)
		if err != nil {
			log.Warn("mllp TLS handshake failed", "error", err)
			return
		}
		sc.peer.CommonName = cn
		log = log.With("peer_cn", cn)
	}
	r := NewReader(sc.nc, s.opts.MaxFrameSize)
	r.OnFrameStart(func() {
		// A frame under way is in flight: Shutdown lets it finish and be answered.
		s.setIdle(sc, false)
		_ = sc.nc.SetReadDeadline(time.Now().Add(s.opts.FrameTimeout))
	})
	ctx := context.WithValue(context.WithValue(s.ctx, connKey{}, sc.nc), peerKey{}, sc.peer)
	for {
		if !s.setIdle(sc, true) {
			return
		}
		if err := sc.nc.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout)); err != nil {
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
		reply := s.safely(ctx, log, func() []byte { return s.handler(ctx, msg) })
		if reply == nil {
			continue
		}
		if !s.write(sc, reply) {
			return
		}
	}
}

// handshake runs the TLS handshake within FrameTimeout and returns the verified client
// certificate's common name ("" when none was verified).
func (s *Server) handshake(sc *serverConn) (string, error) {
	tc := tls.Server(sc.nc, s.opts.TLS)
	sc.nc = tc
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.FrameTimeout)
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
