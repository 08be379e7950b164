// Package mllp carries HL7 v2 messages over TCP with the Minimal Lower Layer Protocol: each
// message is framed as 0x0B <message> 0x1C 0x0D, and each message is answered by one
// acknowledgment on the same connection.
//
// The package knows frames, not HL7: a Reader that never buffers more than a frame limit and
// says exactly what was wrong with a bad frame, a Client with a bounded connection pool per
// address, and a Server that runs a handler per message. Building the acknowledgments is the
// caller's business (see package hl7).
package mllp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Frame bytes.
const (
	StartBlock     byte = 0x0B
	EndBlock       byte = 0x1C
	CarriageReturn byte = 0x0D
)

// MaxFrameSize is the default limit on a frame's payload: 1 MiB.
const MaxFrameSize = 1 << 20

// headSize is how much of a bad frame a FrameError keeps, enough for its MSH segment.
const headSize = 4 << 10

// maxDiscard bounds how much of an oversize frame the reader skips to find its end before it
// gives up on the stream.
const maxDiscard = 16 * MaxFrameSize

// Errors a Reader reports inside a *FrameError; test for them with errors.Is.
var (
	// ErrFrameTooLarge: the payload is larger than the reader's limit.
	ErrFrameTooLarge = errors.New("mllp: frame too large")
	// ErrGarbage: bytes other than CR or LF arrived outside a frame.
	ErrGarbage = errors.New("mllp: bytes outside a frame")
	// ErrTruncated: the stream ended, or a new start block came, before the end block.
	ErrTruncated = errors.New("mllp: truncated frame")
)

// FrameError describes a bad frame.
type FrameError struct {
	// Err is ErrFrameTooLarge, ErrGarbage or ErrTruncated.
	Err error
	// Head is the beginning of the bad frame's payload (up to 4 KiB; nil for garbage), so
	// that a receiver can read its MSH and answer it.
	Head []byte
	// Skipped counts the bytes dropped.
	Skipped int
	// Resynced says the reader stands at a frame boundary again: the next ReadFrame may
	// succeed. When false the connection cannot be trusted any more and should be closed.
	Resynced bool
}

// Error says what was wrong with the frame and how many bytes were dropped.
func (e *FrameError) Error() string {
	return fmt.Sprintf("%v (%d bytes dropped)", e.Err, e.Skipped)
}

// Unwrap returns Err.
func (e *FrameError) Unwrap() error { return e.Err }

// AppendFrame appends msg framed to dst.
func AppendFrame(dst, msg []byte) []byte {
	dst = append(dst, StartBlock)
	dst = append(dst, msg...)
	return append(dst, EndBlock, CarriageReturn)
}

// WriteFrame writes msg as one frame, in a single Write.
func WriteFrame(w io.Writer, msg []byte) error {
	_, err := w.Write(AppendFrame(make([]byte, 0, len(msg)+3), msg))
	return err
}

// Reader reads frames from a stream.
type Reader struct {
	r       *bufio.Reader
	max     int
	onStart func()
}

// NewReader returns a Reader whose frames may hold up to max bytes (MaxFrameSize when
// max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = MaxFrameSize
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// OnFrameStart sets a function ReadFrame calls when it reads a start block, before the
// payload: a server uses it to bound how long one frame may take once it has begun.
func (r *Reader) OnFrameStart(f func()) { r.onStart = f }

// peekByte returns the next byte without consuming it.
func (r *Reader) peekByte() (byte, error) {
	b, err := r.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// ReadFrame returns the next frame's payload. At a clean end of the stream it returns
// io.EOF; a bad frame gives a *FrameError; other errors come from the stream (a deadline, a
// reset). The end block ends the frame at once: the CR that should follow it is not waited
// for, and is skipped with any other CR or LF before the next start block.
func (r *Reader) ReadFrame() ([]byte, error) {
	garbage := 0
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if garbage > 0 && errors.Is(err, io.EOF) {
				return nil, &FrameError{Err: ErrGarbage, Skipped: garbage, Resynced: true}
			}
			return nil, err
		}
		if c == StartBlock {
			if garbage > 0 {
				_ = r.r.UnreadByte()
				return nil, &FrameError{Err: ErrGarbage, Skipped: garbage, Resynced: true}
			}
			break
		}
		if c != CarriageReturn && c != '\n' {
			garbage++
			if garbage >= r.max {
				return nil, &FrameError{Err: ErrGarbage, Skipped: garbage, Resynced: false}
			}
		}
	}
	if r.onStart != nil {
		r.onStart()
	}
	var buf []byte
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, &FrameError{Err: ErrTruncated, Head: head(buf), Skipped: len(buf) + 1}
			}
			return nil, err
		}
		switch c {
		case EndBlock:
			if buf == nil {
				buf = []byte{}
			}
			return buf, nil
		case StartBlock:
			_ = r.r.UnreadByte()
			return nil, &FrameError{Err: ErrTruncated, Head: head(buf), Skipped: len(buf) + 1, Resynced: true}
		}
		if len(buf) == r.max {
			return nil, r.discardOversize(buf)
		}
		buf = append(buf, c)
	}
}

// discardOversize skips the rest of a frame that passed the limit, up to its end block.
func (r *Reader) discardOversize(buf []byte) error {
	fe := &FrameError{Err: ErrFrameTooLarge, Head: head(buf), Skipped: len(buf) + 2}
	for fe.Skipped < maxDiscard {
		c, err := r.r.ReadByte()
		if err != nil {
			return fe
		}
		fe.Skipped++
		switch c {
		case EndBlock:
			fe.Resynced = true
			return fe
		case StartBlock:
			_ = r.r.UnreadByte()
			fe.Skipped--
			fe.Resynced = true
			return fe
		}
	}
	return fe
}

func head(buf []byte) []byte {
	if len(buf) == 0 {
		return nil
	}
	return append([]byte(nil), buf[:min(len(buf), headSize)]...)
}
