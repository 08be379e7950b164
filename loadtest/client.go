package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/medreq/pyxis/api"
)

// user is one simulated person: a token of their own, and a pace below the API's per-user
// limit.
type user struct {
	id    string
	role  string
	token string
	lim   *rate.Limiter
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
	u := &user{id: id, role: role, token: tok, lim: rate.NewLimiter(p.rate, p.burst)}
	p.users[id] = u
	return u, nil
}

// apiClient calls the API, recording each measured call.
type apiClient struct {
	base string
	hc   *http.Client
	rec  *recorder
}

func newAPIClient(base string, timeout time.Duration, rec *recorder) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every simulated user may hold a connection; the defaults (2 idle per host) would make
	// the load generator open and close connections all the time.
	tr.MaxIdleConns = 4096
	tr.MaxIdleConnsPerHost = 4096
	tr.IdleConnTimeout = 90 * time.Second
	return &apiClient{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: timeout}, rec: rec}
}

// close lets go of idle connections.
func (c *apiClient) close() { c.hc.CloseIdleConnections() }

// apiError is the error body every API error carries.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call sends method path as u (paced by u's limiter), decodes a 2xx body into out, and records
// the call under ep unless ep is "". expected says which failed answers are normal outcomes of
// the simulation. It returns the outcome; err is set for a transport error or a body that
// does not decode.
func (c *apiClient) call(ctx context.Context, ep string, u *user, method, path string, body, out any, expected func(status int, code string) bool) (outcome, error) {
	if u != nil {
		if err := u.lim.Wait(ctx); err != nil {
			return outcome{err: err}, err
		}
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return outcome{err: err}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return outcome{err: err}, err
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	o := c.do(req, out)
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

func (c *apiClient) do(req *http.Request, out any) outcome {
	resp, err := c.hc.Do(req)
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
		var e apiError
		if json.Unmarshal(raw, &e) == nil {
			o.code = e.Error.Code
		}
		return o
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			o.err = fmt.Errorf("decode %s %s answer: %w", req.Method, req.URL.Path, err)
		}
	}
	return o
}

// must is call for the setup steps, which are not measured and must succeed: any answer but
// a 2xx is an error.
func (c *apiClient) must(ctx context.Context, u *user, method, path string, body, out any) error {
	o, err := c.call(ctx, "", u, method, path, body, out, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if o.status < 200 || o.status > 299 {
		return fmt.Errorf("%s %s: answered %d %s", method, path, o.status, o.code)
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
func conflictOf(codes ...string) func(status int, code string) bool {
	return func(status int, code string) bool {
		return status == http.StatusConflict && slices.Contains(codes, code)
	}
}
