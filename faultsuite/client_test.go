package faultsuite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	c := newLoadClient(srv.URL, []byte("secret"), time.Minute)
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
