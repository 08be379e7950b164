package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/loadtest/simuser"
)

// The roles of the simulated people, as the API names them.
const (
	roleNurse      = string(apiclient.RoleNurse)
	rolePharmacist = string(apiclient.RolePharmacist)
	roleTechnician = string(apiclient.RoleTechnician)
	roleAdmin      = string(apiclient.RoleAdmin)
)

// maxOnHand is the most a pocket may hold: the API's bound on on_hand (StockBody, and
// db.MaxOnHand behind it), which the load's setup never asks beyond.
const maxOnHand = 100_000

// tokenTTL outlasts the longest run.
const tokenTTL = MaxDuration + 2*time.Hour

// newPeople returns the run's simulated people (package simuser), each paced below the API's
// per-user limit.
func newPeople(secret []byte, perSecond float64, burst int) *simuser.People {
	return simuser.NewPeople(secret, "Load test", tokenTTL, simuser.Pace{PerSecond: perSecond, Burst: burst})
}

// apiClient calls the API as the simulated people (simuser.Client), recording each measured
// call.
type apiClient struct {
	*simuser.Client
	rec *recorder
}

func newAPIClient(base string, timeout time.Duration, rec *recorder) (*apiClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every simulated user may hold a connection; the defaults (2 idle per host) would make
	// the load generator open and close connections all the time.
	tr.MaxIdleConns = 4096
	tr.MaxIdleConnsPerHost = 4096
	tr.IdleConnTimeout = 90 * time.Second
	c, err := simuser.NewClient(base, &http.Client{Transport: tr, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	return &apiClient{Client: c, rec: rec}, nil
}

// call sends op as u (paced by u's limiter), decodes a 2xx body into out, and records the call
// under ep unless ep is "". Only the HTTP exchange is timed: from the moment the generated
// client hands the built request to the transport until the answer is read and decoded, not
// the wait for the limiter nor the encoding of the body. expected says which failed answers
// are normal outcomes of the simulation. It returns the outcome; err is set for a transport
// error or a body that does not decode.
func (c *apiClient) call(ctx context.Context, ep string, u *simuser.User, op simuser.Operation, out any, expected func(status int, code string) bool) (outcome, error) {
	a := c.Call(ctx, u, op, out)
	o := outcome{status: a.Status, code: a.Code, err: a.Err}
	if a.Sent.IsZero() {
		// Nothing was sent, nothing is measured.
		return o, o.err
	}
	if o.err == nil && o.status >= 400 && expected != nil && expected(o.status, o.code) {
		o.expected = true
	}
	// A call cut short because the run is over measured nothing.
	if ep != "" && !(o.err != nil && ctx.Err() != nil) {
		c.rec.record(ep, a.Done, a.Done.Sub(a.Sent), o)
	}
	return o, o.err
}

// must is call for the setup steps, which are not measured and must succeed: any answer but
// a 2xx is an error. what names the step in errors.
func (c *apiClient) must(ctx context.Context, u *simuser.User, what string, op simuser.Operation, out any) error {
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
