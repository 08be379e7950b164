package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// TestNurseGets404OnEveryRouteOfAHiddenRequest: a request a nurse may not see answers her
// 404 on every route she may call (never the 403 or 409 that would confirm it exists, or
// tell its state), before anything reaches its workflow, and each attempt is logged denied.
func TestNurseGets404OnEveryRouteOfAHiddenRequest(t *testing.T) {
	w := newWard(t)
	h := serverWith(t, w.store, nil) // no Temporal: a hidden request must never get that far
	ana := testToken(t, "nurse-ana", pyxis.RoleNurse)
	hidden := w.requests["caio@w3"]

	for _, c := range []struct{ method, path, body, action string }{
		{"GET", "/v1/requests/" + hidden, "", AccessRequestRead},
		{"GET", "/v1/requests/" + hidden + "/audit", "", AccessRequestAudit},
		{"POST", "/v1/requests/" + hidden + "/cancel", `{"reason": "mine?"}`, AccessRequestCancel},
		{"POST", fmt.Sprintf("/v1/cabinets/%d/events", w.w3.ID), `{"type": "withdrawn", "request_id": "` + hidden + `"}`, AccessRequestWithdraw},
		{"POST", fmt.Sprintf("/v1/cabinets/%d/events", w.icu.ID), `{"type": "withdrawn", "request_id": "` + hidden + `"}`, AccessRequestWithdraw},
		{"POST", "/v1/requests/" + hidden + "/approve", "", AccessRequestApprove},
		{"POST", "/v1/requests/" + hidden + "/reject", `{"reason": "x"}`, AccessRequestReject},
	} {
		rec := call(h, c.method, c.path, ana, c.body)
		requireError(t, rec, http.StatusNotFound, CodeNotFound)
		assert.NotContains(t, rec.Body.String(), "MRN", c.path)
		got := accessLog(t, h, "actor_id=nurse-ana&limit=1")
		require.Len(t, got, 1, c.path)
		assert.Equal(t, []any{AccessDenied, []string{hidden}, map[string]any{"attempted": c.action}},
			[]any{got[0].Action, got[0].RequestIDs, got[0].Details}, c.path)
	}
	// A route her role may not take answers 404 for a request that does not exist too, and
	// 403 only for one she may see.
	requireError(t, call(h, "POST", "/v1/requests/medreq-01JQ7ZK3V8XG4N2P5R6S7T8W99/approve", ana, ""), http.StatusNotFound, CodeNotFound)
	requireError(t, call(h, "POST", "/v1/requests/"+w.requests["ana@icu"]+"/approve", ana, ""), http.StatusForbidden, CodeForbidden)
}
