package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// TestGetRequestWaitsForAChange follows a request with ?wait=&version= instead of polling:
// a change committed by anyone (here an UPDATE of the projection, as a worker's step does)
// answers the waiting read with the new version; an unchanged request answers when the wait
// ends; a draining server answers at once.
func TestGetRequestWaitsForAChange(t *testing.T) {
	w := newWard(t)
	cfg := DefaultConfig()
	cfg.JWTSecret, cfg.RateLimit = testSecret, 0
	s := NewServer(w.store, nil, cfg)
	t.Cleanup(s.Close)
	h := s.Handler()
	tok := testToken(t, "nurse-ana", pyxis.RoleNurse)
	id := w.requests["caio@icu"]
	get := func(query string) (RequestView, *httptest.ResponseRecorder) {
		rec := call(h, http.MethodGet, "/v1/requests/"+id+query, tok, "")
		var v RequestView
		if rec.Code == http.StatusOK {
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
		}
		return v, rec
	}
	first, rec := get("")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Positive(t, first.Version)

	t.Run("a change answers the wait", func(t *testing.T) {
		type answer struct {
			v    RequestView
			code int
		}
		done := make(chan answer, 1)
		go func() {
			// Far longer than the test takes: only the change can answer it with another version.
			v, rec := get("?wait=60s&version=" + itoa(first.Version))
			done <- answer{v, rec.Code}
		}()
		_, err := w.pool.Exec(t.Context(), "UPDATE medication_requests SET updated_at = now() WHERE id = $1", id)
		require.NoError(t, err)
		a := <-done
		require.Equal(t, http.StatusOK, a.code)
		assert.Greater(t, a.v.Version, first.Version, "the answer carries the changed view")
	})
	now, _ := get("")

	t.Run("an unchanged request answers when the wait ends", func(t *testing.T) {
		v, rec := get("?wait=100ms&version=" + itoa(now.Version))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, now.Version, v.Version)
	})
	t.Run("a version already gone answers at once", func(t *testing.T) {
		v, rec := get("?wait=60s&version=" + itoa(first.Version))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, now.Version, v.Version)
	})
	t.Run("bad waits name their field", func(t *testing.T) {
		for query, field := range map[string]string{
			"?wait=61s&version=1":  "wait",
			"?wait=soon&version=1": "wait",
			"?wait=30s":            "version",
		} {
			_, rec := get(query)
			assert.Equal(t, http.StatusUnprocessableEntity, rec.Code, query)
			assert.Contains(t, rec.Body.String(), `"`+field+`"`, query)
		}
	})
	t.Run("a draining server answers the waiting reads", func(t *testing.T) {
		done := make(chan int64, 1)
		go func() {
			v, _ := get("?wait=60s&version=" + itoa(now.Version))
			done <- v.Version
		}()
		s.Drain()
		assert.Equal(t, now.Version, <-done)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
