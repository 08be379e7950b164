package simuser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/internal/token"
)

var secret = []byte(strings.Repeat("s", 32))

// A user is minted once, with a token of their own that names them and their role.
func TestPeopleMintEachUserOnce(t *testing.T) {
	p := NewPeople(secret, "Load test", time.Hour, Pace{})
	u, err := p.Get("lt-nurse-1", "nurse")
	require.NoError(t, err)
	again, err := p.Get("lt-nurse-1", "nurse")
	require.NoError(t, err)
	assert.Same(t, u, again)
	assert.Nil(t, u.lim, "the zero Pace does not bound")

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	require.NoError(t, u.auth(t.Context(), req))
	var c token.Claims
	_, err = jwt.ParseWithClaims(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "), &c,
		func(*jwt.Token) (any, error) { return secret, nil })
	require.NoError(t, err)
	assert.Equal(t, "lt-nurse-1", c.Subject)
	assert.Equal(t, "Load test lt-nurse-1", c.Name)
	assert.Equal(t, "nurse", c.Role)

	_, err = NewPeople(nil, "", time.Hour, Pace{}).Get("x", "nurse")
	assert.Error(t, err, "no secret, no token")
}

// A POST answered 503 (a database down) is tried again with the same Idempotency-Key, and
// each try's answer is seen; the last is what the caller keeps.
func TestRetryKeepsTheIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error": {"code": "unavailable", "message": "try again"}}`))
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": "medreq-1", "status": "submitted"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, srv.Client())
	require.NoError(t, err)
	u, err := NewPeople(secret, "", time.Hour, Pace{}).Get("n1", "nurse")
	require.NoError(t, err)

	key := "key-1"
	var v apiclient.RequestView
	var seen []int
	a, tries := c.Retry(t.Context(), u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return c.API.CreateRequest(ctx, &apiclient.CreateRequestParams{IdempotencyKey: &key}, apiclient.CreateRequestBody{}, eds...)
	}, &v, time.Minute, func(a Answer) { seen = append(seen, a.Status) })
	require.True(t, a.OK(), "%+v", a)
	assert.Equal(t, 2, tries)
	assert.Equal(t, []string{"key-1", "key-1"}, keys)
	assert.Equal(t, []int{http.StatusServiceUnavailable, http.StatusCreated}, seen)
	assert.Equal(t, "medreq-1", v.Id)
	assert.Equal(t, "true", a.Header.Get("Idempotent-Replayed"))
	assert.False(t, a.Sent.IsZero() || a.Done.Before(a.Sent), "the exchange is timed")
}

// An answer worth keeping ends the retries at once; a failed one carries its error code.
func TestRetryStopsAtAnAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error": {"code": "invalid_state", "message": "no"}}`))
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, srv.Client())
	require.NoError(t, err)
	a, tries := c.Retry(t.Context(), nil, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return c.API.ApproveRequest(ctx, "medreq-1", apiclient.NoteBody{}, eds...)
	}, nil, time.Minute, nil)
	assert.Equal(t, 1, tries)
	assert.Equal(t, http.StatusConflict, a.Status)
	assert.Equal(t, string(apiclient.ErrorCodeInvalidState), a.Code)
	assert.False(t, a.OK())
}
