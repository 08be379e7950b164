package mllp

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func frame(s string) string { return string(AppendFrame(nil, []byte(s))) }

// result is what one ReadFrame call gave.
type result struct {
	msg      string
	err      error
	resynced bool
	head     string
}

func readAll(t *testing.T, in string, max int) []result {
	t.Helper()
	r := NewReader(bytes.NewReader([]byte(in)), max)
	var out []result
	for range 20 {
		msg, err := r.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		res := result{msg: string(msg), err: err}
		var fe *FrameError
		if errors.As(err, &fe) {
			res.err, res.resynced, res.head = fe.Err, fe.Resynced, string(fe.Head)
			if !fe.Resynced {
				return append(out, res)
			}
		}
		out = append(out, res)
	}
	t.Fatal("reader did not finish")
	return nil
}

func TestReaderFrames(t *testing.T) {
	big := string(bytes.Repeat([]byte("x"), 100))
	tests := []struct {
		name string
		in   string
		max  int
		want []result
	}{
		{"one frame", frame("MSH|a"), 0, []result{{msg: "MSH|a"}}},
		{"two frames back to back", frame("one") + frame("two"), 0, []result{{msg: "one"}, {msg: "two"}}},
		{"empty frame", frame(""), 0, []result{{msg: ""}}},
		{"CR LF between frames skipped", frame("one") + "\r\n\n" + frame("two"), 0, []result{{msg: "one"}, {msg: "two"}}},
		{"end block without CR", "\x0bone\x1c" + frame("two"), 0, []result{{msg: "one"}, {msg: "two"}}},
		{"garbage before a frame, then resync", "hello" + frame("one"), 0,
			[]result{{err: ErrGarbage, resynced: true}, {msg: "one"}}},
		{"garbage at the end", frame("one") + "junk", 0, []result{{msg: "one"}, {err: ErrGarbage, resynced: true}}},
		{"truncated by the end of stream", frame("one") + "\x0bMSH|cut", 0,
			[]result{{msg: "one"}, {err: ErrTruncated, head: "MSH|cut"}}},
		{"truncated by a new start block", "\x0bMSH|cut" + frame("two"), 0,
			[]result{{err: ErrTruncated, head: "MSH|cut", resynced: true}, {msg: "two"}}},
		{"exactly the limit", frame(big), 100, []result{{msg: big}}},
		{"oversize, skipped to its end", frame(big+"y") + frame("next"), 100,
			[]result{{err: ErrFrameTooLarge, head: big, resynced: true}, {msg: "next"}}},
		{"oversize, cut by a start block", "\x0b" + big + "yy" + frame("next"), 100,
			[]result{{err: ErrFrameTooLarge, head: big, resynced: true}, {msg: "next"}}},
		{"oversize, never ends", "\x0b" + big + "yyy", 100, []result{{err: ErrFrameTooLarge, head: big}}},
		{"endless garbage gives up", big + big, 100, []result{{err: ErrGarbage}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, readAll(t, tt.in, tt.max))
		})
	}
}

func TestFrameErrorKeepsOnlyTheHead(t *testing.T) {
	payload := bytes.Repeat([]byte("z"), MaxFrameSize+10)
	r := NewReader(bytes.NewReader(AppendFrame(nil, payload)), 0)
	_, err := r.ReadFrame()
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Len(t, fe.Head, headSize)
	assert.True(t, fe.Resynced)
	assert.Equal(t, MaxFrameSize+12, fe.Skipped)
	assert.Contains(t, fe.Error(), "frame too large")
}

func TestWriteFrame(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteFrame(&b, []byte("MSH|x")))
	assert.Equal(t, []byte("\x0bMSH|x\x1c\x0d"), b.Bytes())
}
