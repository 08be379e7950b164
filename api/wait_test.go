package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// TestGetRequestWaitsForAChange follows a request with ?wait=&version= instead of polling:
// a change committed by anyone (here an UPDATE of the projection, or a worker's step) answers
// the waiting read with the new version; a step into a status the system leaves by itself
// (approved) is answered with the step that follows it, or passingHold after; an unchanged
// request answers when the wait ends; a draining server answers at once.
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
	// step records the request's next transition as the worker's steps do.
	step := func(id string, seq int32, from, to string) {
		t.Helper()
		_, err := w.store.RecordStep(t.Context(), pyxis.Step{RequestID: id, Transitions: []pyxis.Transition{{
			RequestID: id, Seq: seq, From: from, Status: to, Action: to, At: time.Now(), Actor: pyxis.System,
		}}})
		require.NoError(t, err)
	}
	// As the admission leaves them: waiting for a pharmacist.
	step(id, 2, "submitted", "awaiting_approval")
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

	t.Run("an approval is answered with the cabinet's step that follows it", func(t *testing.T) {
		done := make(chan RequestView, 1)
		go func() {
			v, _ := get("?wait=60s&version=" + itoa(now.Version))
			done <- v
		}()
		// The read waits before the approval, as a nurse's does.
		time.Sleep(200 * time.Millisecond)
		step(id, 3, "awaiting_approval", "approved")
		select {
		case v := <-done:
			t.Fatalf("answered %s (version %d) before the request left approved", v.Status, v.Version)
		case <-time.After(2 * changeSettle):
		}
		step(id, 4, "approved", "ready_at_cabinet")
		v := <-done
		assert.Equal(t, "ready_at_cabinet", string(v.Status), "one answer carries the approval and the cabinet's step")
	})
	t.Run("an approval the cabinet does not follow is answered after passingHold", func(t *testing.T) {
		other := w.requests["ana@icu"]
		step(other, 2, "submitted", "awaiting_approval")
		rec := call(h, http.MethodGet, "/v1/requests/"+other, tok, "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var held RequestView
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &held))
		step(other, 3, "awaiting_approval", "approved")
		began := time.Now()
		rec = call(h, http.MethodGet, "/v1/requests/"+other+"?wait=60s&version="+itoa(held.Version), tok, "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var v RequestView
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
		assert.Equal(t, "approved", string(v.Status))
		assert.GreaterOrEqual(t, time.Since(began), passingHold, "held for the step that would move it on")
		assert.Less(t, time.Since(began), 30*time.Second, "answered at the hold's end, not the wait's")
	})
	now, _ = get("")

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
