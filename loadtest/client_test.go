package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/loadtest/simuser"
)

// newTestAPIClient returns a client of srv recording into a fresh recorder, and a user of it
// whose limiter lets one call through at once and then one every pace.
func newTestAPIClient(t *testing.T, srv *httptest.Server, pace time.Duration) (*apiClient, *simuser.User) {
	t.Helper()
	c, err := newAPIClient(srv.URL, 5*time.Second, newRecorder(time.Now()))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	p := newPeople(testSecret, float64(time.Second)/float64(pace), 1)
	u, err := p.Get("lt-nurse-00000", "nurse")
	require.NoError(t, err)
	return c, u
}

// The recorder times the HTTP exchange only: not the limiter's wait, not what the operation
// does before it hands its request to the generated client.
func TestCallTimesOnlyTheExchange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/v1/requests/medreq-1", r.URL.Path)
		assert.Contains(t, r.Header.Get("Authorization"), "Bearer ey", "the user's token")
		writeJSON(w, http.StatusOK, map[string]any{"id": "medreq-1", "status": "submitted"})
	}))
	t.Cleanup(srv.Close)
	c, u := newTestAPIClient(t, srv, 200*time.Millisecond)

	for i := range 2 { // the second call waits for the limiter
		c.rec = newRecorder(time.Now())
		var sent time.Time
		var v apiclient.RequestView
		o, err := c.call(t.Context(), EndpointGet, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
			time.Sleep(20 * time.Millisecond)
			sent = time.Now()
			return c.API.GetRequest(ctx, "medreq-1", &apiclient.GetRequestParams{}, eds...)
		}, &v, nil)
		returned := time.Now()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, o.status)
		assert.Equal(t, "medreq-1", v.Id)
		assert.Equal(t, apiclient.RequestStatusSubmitted, v.Status)

		// The one call's span (first is its start, last its end) lies between the hand-over to
		// the generated client and the return.
		s := c.rec.eps[EndpointGet]
		require.NotNil(t, s, "call %d", i)
		assert.EqualValues(t, 1, s.count)
		assert.False(t, s.first.Before(sent), "call %d: timed from %v before the request was handed over", i, sent.Sub(s.first))
		assert.False(t, s.last.After(returned), "call %d", i)
	}
}

// Failed answers carry their error code; a 409 the simulation expects is no failure, another
// is; setup steps (must) refuse any answer but a 2xx and are not recorded.
func TestCallClassifiesAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/requests/medreq-1/approve":
			fakeError(w, http.StatusConflict, string(apiclient.ErrorCodeInvalidState))
		case "/v1/requests/medreq-2/approve":
			fakeError(w, http.StatusConflict, string(apiclient.ErrorCodeSamePerson))
		default:
			fakeError(w, http.StatusInternalServerError, string(apiclient.ErrorCodeInternal))
		}
	}))
	t.Cleanup(srv.Close)
	c, u := newTestAPIClient(t, srv, time.Millisecond)
	approve := func(id string) (outcome, error) {
		return c.call(t.Context(), EndpointApprove, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
			return c.API.ApproveRequest(ctx, id, apiclient.NoteBody{}, eds...)
		}, nil, conflictOf(apiclient.ErrorCodeInvalidState))
	}

	o, err := approve("medreq-1")
	require.NoError(t, err)
	assert.Equal(t, outcome{status: http.StatusConflict, code: "invalid_state", expected: true}, o)
	o, err = approve("medreq-2")
	require.NoError(t, err)
	assert.Equal(t, outcome{status: http.StatusConflict, code: "same_person"}, o)
	s := c.rec.eps[EndpointApprove]
	require.NotNil(t, s)
	assert.EqualValues(t, 2, s.count)
	assert.EqualValues(t, map[string]int64{ClassOther: 1}, s.failures)

	err = c.must(t.Context(), u, "list cabinets", func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return c.API.ListCabinets(ctx, eds...)
	}, nil)
	assert.EqualError(t, err, "list cabinets: answered 500 internal")
	assert.Len(t, c.rec.eps, 1, "setup steps are not measured")
}
