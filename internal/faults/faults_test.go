package faults

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
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
	p, err := NewProxy(echoServer(t))
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

// A POST answered 503 (a database down) is tried again with the same Idempotency-Key, and
// the answer's id is what the client keeps.
func TestClientRetriesWithTheSameKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error": {"code": "unavailable", "message": "try again"}}`))
		default:
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id": "medreq-1"}`))
		}
	}))
	t.Cleanup(srv.Close)
	c := newClient(srv.URL, []byte("secret"), time.Minute)
	var v struct {
		ID string `json:"id"`
	}
	res := c.call(context.Background(), "n1", "nurse", "POST", "/v1/requests", "key-1", map[string]int{"x": 1}, &v)
	require.True(t, res.ok(), res.String())
	assert.Equal(t, []string{"key-1", "key-1"}, keys)
	assert.Equal(t, "medreq-1", v.ID)
	assert.Equal(t, []string{"medreq-1"}, res.ids)
	assert.False(t, res.cut, "the first try was answered (503)")
	answers, errs := c.counts()
	assert.Equal(t, map[int]int{503: 1, 201: 1}, answers)
	assert.Zero(t, errs)
}

func TestResultLine(t *testing.T) {
	r := Result{Scenario: "api-kill", Requests: 200, Faults: 2, LedgerOK: true, AuditOK: true}
	assert.Equal(t, "scenario=api-kill requests=200 faults=2 lost=0 duplicated=0 stuck=0 ledger=ok audit=ok", r.Line())
	assert.True(t, r.OK())
	r.Problems = []string{"a 500"}
	assert.False(t, r.OK())
	r = Result{Scenario: "x", Lost: 1, LedgerOK: false, AuditOK: true}
	assert.Contains(t, r.Line(), "lost=1")
	assert.Contains(t, r.Line(), "ledger=broken")
	assert.False(t, r.OK())
}
