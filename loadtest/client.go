package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/medreq/pyxis/api"
	apiclient "github.com/medreq/pyxis/api/client"
)

// user is one simulated person: a token of their own, and a pace below the API's per-user
// limit.
type user struct {
	id   string
	role string
	// auth sends the user's token with a call of the generated client.
	auth apiclient.RequestEditorFn
	lim  *rate.Limiter
}

// people mints users on first use, each with their own token.
type people struct {
	secret []byte
	rate   rate.Limit
	burst  int

	mu    sync.Mutex
	users map[string]*user
}

func newPeople(secret []byte, perSecond float64, burst int) *people {
	return &people{secret: secret, rate: rate.Limit(perSecond), burst: burst, users: map[string]*user{}}
}

// tokenTTL outlasts the longest run.
const tokenTTL = MaxDuration + 2*time.Hour

// get returns the user with this id and role, minting their token the first time.
func (p *people) get(id, role string) (*user, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[id]; ok {
		return u, nil
	}
	tok, err := api.IssueToken(p.secret, id, "Load test "+id, role, tokenTTL, time.Now())
	if err != nil {
		return nil, fmt.Errorf("token for %s: %w", id, err)
	}
	u := &user{id: id, role: role, auth: apiclient.BearerToken(tok), lim: rate.NewLimiter(p.rate, p.burst)}
	p.users[id] = u
	return u, nil
}

// apiClient calls the API through the client generated from its document (api/client),
// recording each measured call.
type apiClient struct {
	hc  *http.Client
	gen *apiclient.Client
	rec *recorder
}

func newAPIClient(base string, timeout time.Duration, rec *recorder) (*apiClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every simulated user may hold a connection; the defaults (2 idle per host) would make
	// the load generator open and close connections all the time.
	tr.MaxIdleConns = 4096
	tr.MaxIdleConnsPerHost = 4096
	tr.IdleConnTimeout = 90 * time.Second
	hc := &http.Client{Transport: tr, Timeout: timeout}
	gen, err := apiclient.NewClient(base, apiclient.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("API client for %s: %w", base, err)
	}
	return &apiClient{hc: hc, gen: gen, rec: rec}, nil
}

// close lets go of idle connections.
func (c *apiClient) close() { c.hc.CloseIdleConnections() }

// operation is one call of the generated client with its arguments bound, as in
//
//	func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
//		return r.api.gen.GetRequest(ctx, id, eds...)
//	}
//
// It must pass eds on: they carry the caller's token and mark when the request leaves.
type operation func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error)

// call sends op as u (paced by u's limiter), decodes a 2xx body into out, and records the call
// under ep unless ep is "". Only the HTTP exchange is timed: from the moment the generated
// client hands the built request to the transport until the answer is read and decoded, not
// the wait for the limiter nor the encoding of the body. expected says which failed answers
// are normal outcomes of the simulation. It returns the outcome; err is set for a transport
// error or a body that does not decode.
func (c *apiClient) call(ctx context.Context, ep string, u *user, op operation, out any, expected func(status int, code string) bool) (outcome, error) {
	var start time.Time
	// The generated client applies the editors in order, last thing before it sends.
	eds := make([]apiclient.RequestEditorFn, 0, 2)
	if u != nil {
		if err := u.lim.Wait(ctx); err != nil {
			return outcome{err: err}, err
		}
		eds = append(eds, u.auth)
	}
	eds = append(eds, func(context.Context, *http.Request) error {
		start = time.Now()
		return nil
	})
	resp, err := op(ctx, eds...)
	if start.IsZero() {
		// The request could not be built: nothing was sent, nothing is measured.
		if err == nil {
			err = errors.New("the operation did not pass its request editors on to the generated client")
			if resp != nil {
				resp.Body.Close()
			}
		}
		return outcome{err: err}, err
	}
	o := read(resp, err, out)
	end := time.Now()
	if o.err == nil && o.status >= 400 && expected != nil && expected(o.status, o.code) {
		o.expected = true
	}
	// A call cut short because the run is over measured nothing.
	if ep != "" && !(o.err != nil && ctx.Err() != nil) {
		c.rec.record(ep, end, end.Sub(start), o)
	}
	if o.err != nil {
		return o, o.err
	}
	return o, nil
}

// read turns the generated client's answer into an outcome, decoding a 2xx body into out and
// taking the code of a failed answer from its error envelope.
func read(resp *http.Response, err error, out any) outcome {
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return outcome{status: resp.StatusCode, err: err}
	}
	o := outcome{status: resp.StatusCode}
	if resp.StatusCode >= 300 {
		if e, ok := apiclient.ErrorOf(raw); ok {
			o.code = string(e.Code)
		}
		return o
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			o.err = fmt.Errorf("decode %s %s answer: %w", resp.Request.Method, resp.Request.URL.Path, err)
		}
	}
	return o
}

// must is call for the setup steps, which are not measured and must succeed: any answer but
// a 2xx is an error. what names the step in errors.
func (c *apiClient) must(ctx context.Context, u *user, what string, op operation, out any) error {
	o, err := c.call(ctx, "", u, op, out, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if o.status < 200 || o.status > 299 {
		return fmt.Errorf("%s: answered %d %s", what, o.status, o.code)
	}
	return nil
}

// errAnswer describes an unexpected answer of a measured call.
func errAnswer(o outcome) error {
	if o.err != nil {
		return o.err
	}
	return errors.New(http.StatusText(o.status) + " " + o.code)
}

// conflictOf returns an expected-answer test that accepts a 409 with one of codes.
func conflictOf(codes ...apiclient.ErrorCode) func(status int, code string) bool {
	return func(status int, code string) bool {
		return status == http.StatusConflict && slices.Contains(codes, apiclient.ErrorCode(code))
	}
}

// ptr returns a pointer to v, for the optional fields of the generated types.
func ptr[T any](v T) *T { return &v }

// deref returns what p points to, or the zero value when p is nil.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
