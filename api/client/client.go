// Package client is the Go client of the Pyxis REST API, generated from api/openapi.yaml by
// oapi-codegen (client.gen.go; `go generate ./api/...` regenerates it, and a test in api
// fails when it is stale). It is what `pyxis-dev loadtest` and the end-to-end tests call the API
// with.
//
// NewClientWithResponses gives one method per operation that answers a typed response: its
// StatusCode(), the decoded body of each documented status (JSON201, JSON409, ...), and
// HTTPResponse for the headers. The helpers here cover what every caller needs: the bearer
// token (BearerToken, per client or per call), the error code of a failed answer (ErrorOf),
// and how long a 429 or 503 asks to wait (RetryAfter). An Idempotency-Key is a parameter of
// CreateRequest (CreateRequestParams.IdempotencyKey).
package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o client.gen.go ../openapi.yaml

// BearerToken returns a request editor that sends token as the bearer token: pass it to
// NewClientWithResponses with WithRequestEditorFn for a client of one user, or to a single
// call for a call as another user.
func BearerToken(token string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// ErrorOf decodes the error envelope of a failed answer's body; ok is false when body is not
// one (a 2xx, or no JSON).
func ErrorOf(body []byte) (e ErrorDetail, ok bool) {
	var env ErrorBody
	if json.Unmarshal(body, &env) != nil || env.Error.Code == "" {
		return ErrorDetail{}, false
	}
	return env.Error, true
}

// RetryAfter reads the Retry-After of an answer (429 and 503 carry one, in seconds); ok is
// false when there is none.
func RetryAfter(resp *http.Response) (d time.Duration, ok bool) {
	if resp == nil {
		return 0, false
	}
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// Terminal reports whether no transition leaves s: dispensed, rejected, cancelled, expired
// and failed (the document's RequestStatus says so of the last five of its values).
func (s RequestStatus) Terminal() bool {
	switch s {
	case RequestStatusDispensed, RequestStatusRejected, RequestStatusCancelled, RequestStatusExpired, RequestStatusFailed:
		return true
	}
	return false
}
