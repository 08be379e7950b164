package proxy

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					_, _ = c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestProxyModes(t *testing.T) {
	p, err := New(echoServer(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip := func(msg string, wait time.Duration) (string, error) {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.Write([]byte(msg + "\n")); err != nil {
			return "", err
		}
		line, err := r.ReadString('\n')
		return line, err
	}

	got, err := roundTrip("one", time.Second)
	require.NoError(t, err)
	assert.Equal(t, "one\n", got)

	p.Set(DropReplies, 0)
	_, err = roundTrip("two", 300*time.Millisecond)
	require.Error(t, err, "the answer must be lost")
	p.Set(Blackhole, 0)
	_, err = roundTrip("three", 300*time.Millisecond)
	require.Error(t, err, "nothing gets through")
	assert.EqualValues(t, 2, p.Dropped(), "the answer to two, and three itself")

	p.Set(Delay, 400*time.Millisecond)
	start := time.Now()
	got, err = roundTrip("four", 3*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "four\n", got, "two's answer was dropped and three never arrived: four's answer is next")
	assert.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond, "held back both ways")

	p.Set(Pass, 0)
	p.Cut()
	_, err = roundTrip("five", time.Second)
	require.Error(t, err, "Cut closes open connections")
}
