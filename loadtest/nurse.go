package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/loadtest/simuser"
)

// tracked is one created request as its nurse last saw it.
type tracked struct {
	id        string
	nurse     *simuser.User
	cabinetID int64

	mu sync.Mutex
	// status is the last status seen; createdAt and endAt the server's created_at and the
	// time of the last transition into status; action and reason the last transition's.
	status    apiclient.RequestStatus
	createdAt time.Time
	endAt     time.Time
	action    string
	reason    string
	// seenAt is when the nurse saw status first.
	seenAt time.Time
	// version is the view's version last seen, which a waiting read waits to change.
	version int64
}

// observe takes in a state read from the API.
func (t *tracked) observe(v apiclient.RequestView) {
	t.mu.Lock()
	defer t.mu.Unlock()
	status := apiclient.RequestStatus(v.Status)
	if status != t.status {
		t.seenAt = time.Now()
	}
	t.status = status
	t.version = v.Version
	if v.CreatedAt != nil {
		t.createdAt = *v.CreatedAt
	}
	t.endAt = time.Time{}
	for _, tr := range deref(v.Transitions) {
		if tr.To == v.Status {
			t.endAt, t.action, t.reason = tr.At, tr.Action, deref(tr.Reason)
		}
	}
	if t.endAt.IsZero() && v.UpdatedAt != nil {
		t.endAt = *v.UpdatedAt
	}
}

// view returns a consistent copy of what t holds.
func (t *tracked) view() (status apiclient.RequestStatus, createdAt, endAt time.Time, action, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, t.createdAt, t.endAt, t.action, t.reason
}

// newBody makes a request as a nurse on a morning round asks for it: a priority (a fifth
// stat, three tenths urgent, the rest routine), one to five lines of different medications,
// a share with a controlled medication, one or two units each.
func (r *runner) newBody(rng *rand.Rand, cat catalogue) apiclient.CreateRequestJSONRequestBody {
	b := apiclient.CreateRequestJSONRequestBody{
		CabinetId: cat.cabinets[rng.IntN(len(cat.cabinets))].id,
		Patient: apiclient.PatientBody{
			Mrn: fmt.Sprintf("LT-%08d", rng.IntN(100_000_000)),
			Bed: ptr(fmt.Sprintf("%d%c", 1+rng.IntN(40), 'A'+rune(rng.IntN(4)))),
		},
	}
	switch p := rng.Float64(); {
	case p < 0.2:
		b.Priority = apiclient.Stat
	case p < 0.5:
		b.Priority = apiclient.Urgent
	default:
		b.Priority = apiclient.Routine
	}
	lines := 1 + rng.IntN(5)
	controlled := len(cat.controlled) > 0 && rng.Float64() < r.cfg.ControlledShare
	plain := lines
	if controlled {
		plain--
	}
	for _, i := range rng.Perm(len(cat.plain))[:min(plain, len(cat.plain))] {
		b.Items = append(b.Items, apiclient.ItemBody{MedicationId: cat.plain[i].id, Quantity: int32(1 + rng.IntN(maxQuantity))})
	}
	if controlled {
		m := cat.controlled[rng.IntN(len(cat.controlled))]
		b.Items = append(b.Items, apiclient.ItemBody{MedicationId: m.id, Quantity: int32(1 + rng.IntN(maxQuantity))})
	}
	return b
}

// create posts body as nurse u and tracks the request it made; nil when it made none. It sends
// no Idempotency-Key: a simulated nurse does not retry.
func (r *runner) create(ctx context.Context, ep string, u *simuser.User, body apiclient.CreateRequestJSONRequestBody) *tracked {
	var v apiclient.RequestView
	o, err := r.api.call(ctx, ep, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.CreateRequest(ctx, &apiclient.CreateRequestParams{}, body, eds...)
	}, &v, nil)
	if err != nil || o.status != http.StatusCreated || v.Id == "" {
		if ctx.Err() == nil {
			r.createFailures.Add(1)
		}
		return nil
	}
	r.created.Add(1)
	t := &tracked{id: v.Id, nurse: u, cabinetID: body.CabinetId}
	t.observe(v)
	r.mu.Lock()
	r.requests = append(r.requests, t)
	r.mu.Unlock()
	return t
}

// follow has the nurse look at her request every interval until done says its status is far
// enough, or ctx ends. With WithdrawVia "api" she reports the withdrawal herself,
// WithdrawAfter after she sees the request ready at the cabinet.
func (r *runner) follow(ctx context.Context, t *tracked, interval time.Duration, done func(apiclient.RequestStatus) bool) {
	reported := false
	for {
		if status, _, _, _, _ := t.view(); done(status) {
			r.finished.Add(1)
			return
		}
		var (
			v   apiclient.RequestView
			o   outcome
			err error
		)
		if r.cfg.Follow == FollowWait {
			v, o, err = r.await(ctx, t)
		} else {
			if !simuser.Pause(ctx, interval) {
				return
			}
			v, o, err = r.get(ctx, EndpointGet, t)
		}
		if err != nil || o.status != http.StatusOK {
			if r.cfg.Follow == FollowWait && !simuser.Pause(ctx, interval) {
				return // a failed read is not retried at once
			}
			continue
		}
		t.observe(v)
		if r.cfg.WithdrawVia == WithdrawByAPI && v.Status == apiclient.RequestStatusReadyAtCabinet && !reported {
			t.mu.Lock()
			wait := r.cfg.WithdrawAfter - time.Since(t.seenAt)
			t.mu.Unlock()
			if !simuser.Pause(ctx, wait) {
				return
			}
			reported = r.reportWithdrawal(ctx, t)
		}
	}
}

// get reads the request t as its nurse, recorded under ep.
func (r *runner) get(ctx context.Context, ep string, t *tracked) (apiclient.RequestView, outcome, error) {
	var v apiclient.RequestView
	o, err := r.api.call(ctx, ep, t.nurse, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.GetRequest(ctx, t.id, &apiclient.GetRequestParams{}, eds...)
	}, &v, nil)
	return v, o, err
}

// await reads the request t as its nurse, answered when its view changes from the version
// she last saw or after a wait well inside the call's timeout, recorded as EndpointWait.
func (r *runner) await(ctx context.Context, t *tracked) (apiclient.RequestView, outcome, error) {
	t.mu.Lock()
	version := t.version
	t.mu.Unlock()
	wait := fmt.Sprintf("%ds", int(max(time.Second, min(30*time.Second, r.cfg.HTTPTimeout/2)).Seconds()))
	var v apiclient.RequestView
	o, err := r.api.call(ctx, EndpointWait, t.nurse, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.GetRequest(ctx, t.id, &apiclient.GetRequestParams{Wait: &wait, Version: &version}, eds...)
	}, &v, nil)
	return v, o, err
}

// reportWithdrawal tells the API that the nurse took the medication out of the cabinet.
func (r *runner) reportWithdrawal(ctx context.Context, t *tracked) bool {
	body := apiclient.ReportCabinetEventJSONRequestBody{Type: apiclient.Withdrawn, RequestId: t.id}
	o, err := r.api.call(ctx, EndpointWithdraw, t.nurse, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.ReportCabinetEvent(ctx, t.cabinetID, body, eds...)
	}, nil, conflictOf(apiclient.ErrorCodeInvalidState))
	return err == nil && (o.status == http.StatusAccepted || o.expected)
}

// nurseID names the n-th simulated nurse.
func nurseID(n int) string { return fmt.Sprintf("lt-nurse-%05d", n) }

// pharmacistID names the n-th simulated pharmacist.
func pharmacistID(n int) string { return fmt.Sprintf("lt-pharm-%03d", n) }
