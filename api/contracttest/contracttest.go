// Package contracttest checks HTTP traffic against the API's OpenAPI document with
// kin-openapi's openapi3filter: every request a test sends and every answer it gets, so a
// status, a header or a field the document does not promise fails the test that saw it.
// Tests use Transport as the transport of their HTTP client (the generated client takes it
// too); the package is for tests only.
package contracttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator checks requests and responses against one document.
type Validator struct {
	router routers.Router
}

// New reads an OpenAPI document (3.0 or 3.1; 3.1 schemas are checked as JSON Schema 2020-12)
// and validates it first.
func New(spec []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load the document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the document is invalid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the document: %w", err)
	}
	return &Validator{router: router}, nil
}

// options are those of every check. The server decides who is authenticated; the contract
// check is about shapes, so the security requirements are not evaluated. A status the
// document does not list is a violation, and so is a request body where none is documented.
func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus:             true,
		RejectWhenRequestBodyNotSpecified: true,
		MultiError:                        true,
	}
}

func init() {
	// The controlled register answers CSV, and /docs a page and its assets: text, checked
	// as strings.
	for _, contentType := range []string{"text/csv", "text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(contentType, openapi3filter.FileBodyDecoder)
	}
}

// Check validates one exchange: the request (unless checkRequest is false, for a test that
// sends a malformed request on purpose) and the response. The bodies are passed as bytes;
// req.Body and resp.Body are not read.
func (v *Validator) Check(ctx context.Context, req *http.Request, reqBody []byte, checkRequest bool,
	status int, header http.Header, respBody []byte) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil && !checkRequest {
		// A request made malformed on purpose may go where the document has nothing (an
		// unknown route or method): there is no operation to check its answer against.
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s is not an operation of the document: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req.Clone(ctx), PathParams: params, Route: route, Options: options()}
	in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	var errs []error
	if checkRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			errs = append(errs, fmt.Errorf("request: %w", err))
		}
		in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Options: options(),
		Body: io.NopCloser(bytes.NewReader(respBody)),
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, fmt.Errorf("response %d: %w", status, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s %s breaks the contract: %w", req.Method, req.URL.Path, errors.Join(errs...))
	}
	return nil
}

type noRequestCheck struct{}

// WithoutRequestCheck marks a request that a test makes malformed on purpose (a bad body, a
// missing token is fine either way): its answer is still checked, the request itself is not.
func WithoutRequestCheck(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRequestCheck{}, true)
}

// Transport is an http.RoundTripper that checks every exchange and keeps the violations.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base      http.RoundTripper
	Validator *Validator

	mu         sync.Mutex
	violations []string
}

// RoundTrip sends req and checks the exchange. A violation does not fail the call: it is kept
// for Violations, so the test sees the answer it asked for and fails at its end.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		return resp, err
	}
	checkRequest := req.Context().Value(noRequestCheck{}) == nil
	if err := t.Validator.Check(context.Background(), req, reqBody, checkRequest, resp.StatusCode, resp.Header, respBody); err != nil {
		t.mu.Lock()
		t.violations = append(t.violations, err.Error())
		t.mu.Unlock()
	}
	return resp, nil
}

// Violations returns what broke the contract so far.
func (t *Transport) Violations() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.violations...)
}
