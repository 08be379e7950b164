package loadtest

import (
	"cmp"
	"context"
	"hash/fnv"
	"net/http"
	"slices"
	"sync"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/loadtest/simuser"
)

// queuePageSize is the pharmacist's page of the queue, and queuePages how many pages she
// reads looking for work before she waits.
const (
	queuePageSize = 50
	queuePages    = 5
)

// rejectReason is what the simulated pharmacists write when they reject.
const rejectReason = "load test: clinical review found the order unsuitable (simulated)"

// pharmacy is the pharmacists working one queue. Each request has an owner among them, chosen
// by a hash of its id, who approves or rejects it; a request that needs a second approval
// after the owner's goes to the next pharmacist along, as a colleague asked to co-sign.
type pharmacy struct {
	r     *runner
	staff []*simuser.User

	mu sync.Mutex
	// cosign maps a request approved once, and waiting for another, to who approved it.
	cosign map[string]int
}

func newPharmacy(ctx context.Context, r *runner) (*pharmacy, error) {
	ph := &pharmacy{r: r, cosign: map[string]int{}}
	for i := range r.cfg.Pharmacists {
		if err := r.register(ctx, pharmacistID(i)); err != nil {
			return nil, err
		}
		u, err := r.people.Get(pharmacistID(i), rolePharmacist)
		if err != nil {
			return nil, err
		}
		ph.staff = append(ph.staff, u)
	}
	return ph, nil
}

// work runs every pharmacist until the returned stop is called (or ctx ends); stop waits for
// them to finish what they are doing, so no call is cut off halfway.
func (ph *pharmacy) work(ctx context.Context) (stop func()) {
	var wg sync.WaitGroup
	idle, quit := context.WithCancel(ctx)
	for i := range ph.staff {
		wg.Go(func() { ph.pharmacist(ctx, idle, i) })
	}
	return func() {
		quit()
		wg.Wait()
	}
}

// pharmacist is one pharmacist's shift: read the queue, act on her requests, and when there is
// nothing for her, wait a little. Calls run on ctx; idle ending ends the shift between calls.
func (ph *pharmacy) pharmacist(ctx, idle context.Context, me int) {
	done := map[string]bool{}
	for idle.Err() == nil && ctx.Err() == nil {
		if ph.round(ctx, me, done) == 0 {
			simuser.Pause(idle, ph.r.cfg.QueueInterval)
		}
	}
}

// round reads the queue, page after page until it finds work, and acts on what is hers. It
// returns how many requests she acted on.
func (ph *pharmacy) round(ctx context.Context, me int, done map[string]bool) int {
	u := ph.staff[me]
	cursor := ""
	for range queuePages {
		page, o, err := ph.r.queue(ctx, EndpointQueue, u, queuePageSize, cursor)
		if err != nil || o.status != http.StatusOK {
			return 0
		}
		// Stat first, then urgent, then routine; the oldest first within a priority.
		slices.SortStableFunc(page.Data, func(a, b apiclient.RequestSummaryView) int {
			return cmp.Or(cmp.Compare(priorityRank(a.Priority), priorityRank(b.Priority)), a.CreatedAt.Compare(b.CreatedAt))
		})
		acted := 0
		for _, it := range page.Data {
			if done[it.Id] || !ph.mine(me, it.Id) {
				continue
			}
			if ph.decide(ctx, me, it.Id) {
				done[it.Id] = true
			}
			acted++
		}
		cursor = deref(page.NextCursor)
		if acted > 0 || cursor == "" {
			return acted
		}
	}
	return 0
}

// queue reads a page of the pharmacists' queue (the requests awaiting approval) as u, recorded
// under ep unless ep is "": limit requests after cursor, or the first page when cursor is "".
func (r *runner) queue(ctx context.Context, ep string, u *simuser.User, limit int, cursor string) (apiclient.RequestSummaryList, outcome, error) {
	params := apiclient.ListRequestsParams{Status: ptr(apiclient.ListRequestsParamsStatusAwaitingApproval), Limit: &limit}
	if cursor != "" {
		params.Cursor = &cursor
	}
	var page apiclient.RequestSummaryList
	o, err := r.api.call(ctx, ep, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return r.api.API.ListRequests(ctx, &params, eds...)
	}, &page, nil)
	return page, o, err
}

// mine reports whether pharmacist me should act on the request now.
func (ph *pharmacy) mine(me int, id string) bool {
	n := len(ph.staff)
	ph.mu.Lock()
	first, cosigning := ph.cosign[id]
	ph.mu.Unlock()
	if cosigning {
		return me == (first+1)%n
	}
	return me == int(hash(id)%uint32(n))
}

// decide approves or rejects the request; it reports whether the pharmacist is done with it
// (acted, or found it decided by someone else). A request to reject is chosen by its id, so
// the same share is rejected whoever looks.
func (ph *pharmacy) decide(ctx context.Context, me int, id string) bool {
	u := ph.staff[me]
	conflict := conflictOf(apiclient.ErrorCodeInvalidState, apiclient.ErrorCodeDuplicateApproval)
	c := ph.r.api
	if float64(hash(id+"/reject")%10_000) < ph.r.cfg.RejectShare*10_000 {
		body := apiclient.RejectRequestJSONRequestBody{Reason: ptr(rejectReason)}
		o, err := c.call(ctx, EndpointReject, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
			return c.API.RejectRequest(ctx, id, body, eds...)
		}, nil, conflict)
		return err == nil && (o.status == http.StatusAccepted || o.expected)
	}
	var v apiclient.RequestView
	body := apiclient.ApproveRequestJSONRequestBody{Note: ptr("load test")}
	o, err := c.call(ctx, EndpointApprove, u, func(ctx context.Context, eds ...apiclient.RequestEditorFn) (*http.Response, error) {
		return c.API.ApproveRequest(ctx, id, body, eds...)
	}, &v, conflict)
	switch {
	case err != nil:
		return false
	case o.status == http.StatusAccepted:
		if v.Status == apiclient.RequestStatusAwaitingApproval && int32(len(deref(v.Approvals))) < v.RequiredApprovals {
			ph.askCosign(id, me)
		}
		return true
	case o.expected && o.code == string(apiclient.ErrorCodeDuplicateApproval):
		// She approved before (an answer lost on the way, perhaps): someone else must co-sign.
		ph.askCosign(id, me)
		return true
	}
	return o.expected
}

func (ph *pharmacy) askCosign(id string, first int) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.cosign[id] = first
}

func priorityRank(p apiclient.Priority) int {
	switch p {
	case apiclient.Stat:
		return 0
	case apiclient.Urgent:
		return 1
	}
	return 2
}

func hash(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}
