package simuser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	apiclient "github.com/medreq/pyxis/api/client"
)

// Client calls the API through the generated client, as the simulated users.
type Client struct {
	// API is the generated client; an Operation calls one of its methods.
	API  *apiclient.Client
	http *http.Client
}

// NewClient returns a client of the API at base that sends its calls through hc.
func NewClient(base string, hc *http.Client) (*Client, error) {
	gen, err := apiclient.NewClient(base, apiclient.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("API client for %s: %w", base, err)
	}
	return &Client{API: gen, http: hc}, nil
}

// Close lets go of idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Operation is one call of the generated client with its arguments bound, as in
//
//	func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
//		return c.API.GetRequest(ctx, id, &apiclient.GetRequestParams{}, eds...)
//	}
//
// It must pass eds on: they carry the user's token and mark when the request leaves.
type Operation func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error)

// Answer is what one call got.
type Answer struct {
	// Status is the answer's status (0: no answer); Code the error code of a failed answer.
	Status int
	Code   string
	// Err is a transport error, or a body that could not be read or decoded.
	Err error
	// Header is the answer's header (nil: no answer).
	Header http.Header
	// Sent and Done span the HTTP exchange: from the moment the generated client hands the
	// built request to the transport until the answer is read and decoded. Sent is zero when
	// nothing was sent.
	Sent, Done time.Time
}

// OK reports whether the call was answered 2xx.
func (a Answer) OK() bool { return a.Err == nil && a.Status >= 200 && a.Status < 300 }

// Call sends op as u (after u's pace allows it; u nil: no token) and decodes a 2xx body into
// out.
func (c *Client) Call(ctx context.Context, u *User, op Operation, out any) Answer {
	var a Answer
	// The generated client applies the editors in order, last thing before it sends.
	eds := make([]apiclient.RequestEditorFn, 0, 2)
	if u != nil {
		if err := u.wait(ctx); err != nil {
			return Answer{Err: err}
		}
		eds = append(eds, u.auth)
	}
	eds = append(eds, func(context.Context, *http.Request) error {
		a.Sent = time.Now()
		return nil
	})
	resp, err := op(ctx, eds...)
	if a.Sent.IsZero() {
		// The request could not be built: nothing was sent.
		if err == nil {
			err = errors.New("the operation did not pass its request editors on to the generated client")
			if resp != nil {
				resp.Body.Close()
			}
		}
		return Answer{Err: err}
	}
	read(&a, resp, err, out)
	a.Done = time.Now()
	return a
}

// read takes the generated client's answer in, decoding a 2xx body into out and taking the
// code of a failed answer from its error envelope.
func read(a *Answer, resp *http.Response, err error, out any) {
	if err != nil {
		a.Err = err
		return
	}
	defer resp.Body.Close()
	a.Status, a.Header = resp.StatusCode, resp.Header
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		a.Err = err
		return
	}
	if resp.StatusCode >= 300 {
		if e, ok := apiclient.ErrorOf(raw); ok {
			a.Code = string(e.Code)
		}
		return
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.Err = fmt.Errorf("decode %s %s answer: %w", resp.Request.Method, resp.Request.URL.Path, err)
		}
	}
}
