package loadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/workflows"
)

// fakeAPI is a small stand-in for the REST API: it checks tokens, keeps stock and requests in
// memory, and moves an approved request to dispensed after a moment, as the cabinet would. It
// lets the scenarios run in a unit test; the real system is tested in devstack and e2e.
type fakeAPI struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server

	mu       sync.Mutex
	stock    map[[2]int64][2]int32 // (cabinet, medication) → (on_hand, reserved)
	reqs     map[string]*fakeRequest
	order    []string
	meds     []api.MedicationBody
	seq      int
	subjects map[string]bool   // who called, to check tokens are per user
	loads    []api.LoadView    // controlled loads, pending their witness; the id is the index + 1
	regs     map[string]string // the users directory's professional registrations, by user id
}

type fakeRequest struct {
	view       api.RequestView
	approvedAt time.Time
}

func newFakeAPI(t *testing.T, secret []byte) *fakeAPI {
	f := &fakeAPI{t: t, secret: secret, stock: map[[2]int64][2]int32{}, reqs: map[string]*fakeRequest{}, subjects: map[string]bool{}, regs: map[string]string{}}
	for i, code := range []string{"PARA500", "DIPI1G", "ONDA4", "OMEP40", "CEFT1G", "MORF10", "FENT50"} {
		m := api.MedicationBody{ID: int64(i + 1), Code: code, Name: code}
		if strings.HasPrefix(code, "MORF") || strings.HasPrefix(code, "FENT") {
			m.ControlledList, m.Controlled = "A1", true
		}
		f.meds = append(f.meds, m)
		f.stock[[2]int64{1, m.ID}] = [2]int32{20, 0}
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// controlled reports whether a medication of the catalogue is on a controlled list.
func (f *fakeAPI) controlled(id int64) bool {
	for _, m := range f.meds {
		if m.ID == id {
			return m.Controlled
		}
	}
	return false
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	claims := &api.Claims{}
	if _, err := jwt.ParseWithClaims(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), claims, func(*jwt.Token) (any, error) { return f.secret, nil }); err != nil {
		fakeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subjects[claims.Subject] = true
	me := pyxis.Actor{ID: claims.Subject, Role: claims.Role}
	path := r.URL.Path
	switch {
	case r.Method == "GET" && path == "/v1/cabinets":
		writeJSON(w, 200, api.ListView[api.CabinetBody]{Data: []api.CabinetBody{{ID: 1, Code: "CAB-1", Status: "online"}}})
	case r.Method == "GET" && path == "/v1/medications":
		writeJSON(w, 200, api.ListView[api.MedicationBody]{Data: f.meds})
	case r.Method == "POST" && path == "/v1/medications":
		var m api.MedicationBody
		_ = json.NewDecoder(r.Body).Decode(&m)
		m.ID = int64(len(f.meds) + 1)
		f.meds = append(f.meds, m)
		writeJSON(w, 201, m)
	case r.Method == "GET" && path == "/v1/cabinets/1/stock":
		var rows []api.StockView
		for k, v := range f.stock {
			rows = append(rows, api.StockView{CabinetID: k[0], MedicationID: k[1], OnHand: v[0], Reserved: v[1]})
		}
		writeJSON(w, 200, api.ListView[api.StockView]{Data: rows})
	case r.Method == "PUT" && strings.HasPrefix(path, "/v1/cabinets/1/stock/"):
		if me.Role != pyxis.RoleTechnician {
			fakeError(w, 403, "forbidden")
			return
		}
		var b api.StockBody
		_ = json.NewDecoder(r.Body).Decode(&b)
		var med int64
		fmt.Sscan(strings.TrimPrefix(path, "/v1/cabinets/1/stock/"), &med)
		if f.controlled(med) {
			// As the API: a controlled medication's on_hand changes only through a load or count.
			fakeError(w, 409, "controlled_stock")
			return
		}
		k := [2]int64{1, med}
		f.stock[k] = [2]int32{*b.OnHand, f.stock[k][1]}
		writeJSON(w, 200, api.StockView{})
	case r.Method == "POST" && path == "/v1/cabinets/1/loads":
		var b api.LoadBody
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || me.Role != pyxis.RoleTechnician {
			fakeError(w, 422, "validation_failed")
			return
		}
		if f.controlled(b.MedicationID) {
			// As the API: a controlled load waits for a witness who signs in.
			l := api.LoadView{ID: int64(len(f.loads) + 1), Status: "pending_witness", CabinetID: 1, MedicationID: b.MedicationID,
				Quantity: *b.Quantity, LoadedBy: me.ID}
			f.loads = append(f.loads, l)
			writeJSON(w, 202, l)
			return
		}
		k := [2]int64{1, b.MedicationID}
		f.stock[k] = [2]int32{f.stock[k][0] + *b.Quantity, f.stock[k][1]}
		onHand := f.stock[k][0]
		writeJSON(w, 201, api.LoadView{Status: "loaded", Quantity: *b.Quantity, OnHand: &onHand})
	case r.Method == "POST" && strings.HasPrefix(path, "/v1/loads/") && strings.HasSuffix(path, "/witness"):
		var id int
		fmt.Sscan(strings.TrimSuffix(strings.TrimPrefix(path, "/v1/loads/"), "/witness"), &id)
		if id < 1 || id > len(f.loads) || f.loads[id-1].Status != "pending_witness" {
			fakeError(w, 404, "not_found")
			return
		}
		l := &f.loads[id-1]
		if l.LoadedBy == me.ID {
			fakeError(w, 409, "same_person")
			return
		}
		k := [2]int64{1, l.MedicationID}
		f.stock[k] = [2]int32{f.stock[k][0] + l.Quantity, f.stock[k][1]}
		l.Status, l.Witness = "witnessed", me.ID
		writeJSON(w, 200, *l)
	case r.Method == "PATCH" && strings.HasPrefix(path, "/v1/users/"), r.Method == "POST" && path == "/v1/users":
		f.user(w, r, me)
	case r.Method == "POST" && path == "/v1/requests":
		f.create(w, r, me)
	case r.Method == "GET" && path == "/v1/requests":
		f.list(w, r)
	case r.Method == "GET" && strings.HasPrefix(path, "/v1/requests/"):
		req, ok := f.reqs[strings.TrimPrefix(path, "/v1/requests/")]
		if !ok {
			fakeError(w, 404, "not_found")
			return
		}
		f.dispenseDue(req)
		// ?wait=&version=: as the API, answer when the version differs or the wait ends.
		if wait, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil {
			held, _ := strconv.ParseInt(r.URL.Query().Get("version"), 10, 64)
			for end := time.Now().Add(wait); req.view.Version == held && time.Now().Before(end); {
				f.mu.Unlock()
				time.Sleep(5 * time.Millisecond) // the fake has no change feed; the API's does not poll
				f.mu.Lock()
				f.dispenseDue(req)
			}
		}
		writeJSON(w, 200, req.view)
	case r.Method == "POST" && strings.HasPrefix(path, "/v1/requests/"):
		f.act(w, r, me)
	default:
		fakeError(w, 404, "not_found")
	}
}

// user adds a user (POST) or changes one's registration (PATCH), as an admin, as the API does:
// a PATCH of a user the directory lacks is 404.
func (f *fakeAPI) user(w http.ResponseWriter, r *http.Request, me pyxis.Actor) {
	var b api.UserBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || me.Role != pyxis.RoleAdmin {
		fakeError(w, 422, "validation_failed")
		return
	}
	id, patch := strings.CutPrefix(r.URL.Path, "/v1/users/")
	if !patch {
		id = b.ID
	}
	if _, ok := f.regs[id]; ok != patch {
		fakeError(w, map[bool]int{true: 404, false: 409}[patch], "not_found_or_conflict")
		return
	}
	f.regs[id] = b.Registration
	writeJSON(w, map[bool]int{true: 200, false: 201}[patch], api.UserView{ID: id, Registration: b.Registration})
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request, me pyxis.Actor) {
	var b api.CreateRequestBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || me.Role != pyxis.RoleNurse {
		fakeError(w, 422, "validation_failed")
		return
	}
	f.seq++
	now := time.Now().UTC()
	v := api.RequestView{ID: fmt.Sprintf("medreq-%06d", f.seq), Status: workflows.StatusSubmitted, Priority: pyxis.Priority(b.Priority),
		CabinetID: b.CabinetID, Requester: me, RequiredApprovals: 1, CreatedAt: &now, Approvals: []workflows.Approval{}}
	ok := true
	for _, it := range b.Items {
		v.Items = append(v.Items, it)
		if f.meds[it.MedicationID-1].Controlled {
			v.RequiredApprovals = 2
		}
		s := f.stock[[2]int64{b.CabinetID, it.MedicationID}]
		ok = ok && s[0]-s[1] >= it.Quantity
	}
	req := &fakeRequest{view: v}
	f.reqs[v.ID] = req
	f.order = append(f.order, v.ID)
	if ok {
		for _, it := range b.Items {
			k := [2]int64{b.CabinetID, it.MedicationID}
			f.stock[k] = [2]int32{f.stock[k][0], f.stock[k][1] + it.Quantity}
		}
		f.move(req, workflows.StatusAwaitingApproval, pyxis.System)
	} else {
		f.move(req, workflows.StatusFailed, pyxis.System)
		req.view.Transitions[len(req.view.Transitions)-1].Action = "reserve_failed"
	}
	writeJSON(w, 201, v)
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	var out []api.RequestSummaryView
	for _, id := range slices.Backward(f.order) {
		v := f.reqs[id].view
		if string(v.Status) == r.URL.Query().Get("status") {
			out = append(out, api.RequestSummaryView{ID: v.ID, Status: string(v.Status), Priority: string(v.Priority), CreatedAt: *v.CreatedAt})
		}
	}
	writeJSON(w, 200, api.ListView[api.RequestSummaryView]{Data: out[:min(len(out), 50)]})
}

func (f *fakeAPI) act(w http.ResponseWriter, r *http.Request, me pyxis.Actor) {
	id, action, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1/requests/"), "/")
	req, ok := f.reqs[id]
	if !ok {
		fakeError(w, 404, "not_found")
		return
	}
	if req.view.Status != workflows.StatusAwaitingApproval {
		fakeError(w, 409, api.CodeInvalidState)
		return
	}
	switch action {
	case "approve":
		if req.view.RequiredApprovals >= 2 && f.regs[me.ID] == "" {
			fakeError(w, 403, api.CodeForbidden)
			return
		}
		for _, a := range req.view.Approvals {
			if a.Actor.ID == me.ID {
				fakeError(w, 409, api.CodeDuplicateApproval)
				return
			}
		}
		req.view.Approvals = append(req.view.Approvals, workflows.Approval{Actor: me, At: time.Now()})
		req.view.Version++
		if int32(len(req.view.Approvals)) >= req.view.RequiredApprovals {
			f.move(req, workflows.StatusApproved, me)
			req.approvedAt = time.Now()
		}
	case "reject":
		f.move(req, workflows.StatusRejected, me)
	case "cancel":
		f.move(req, workflows.StatusCancelled, me)
	}
	writeJSON(w, 202, req.view)
}

// dispenseDue dispenses an approved request a moment after its approval, as the cabinet would.
func (f *fakeAPI) dispenseDue(req *fakeRequest) {
	if req.view.Status == workflows.StatusApproved && time.Since(req.approvedAt) > 20*time.Millisecond {
		f.move(req, workflows.StatusDispensed, pyxis.Actor{ID: "cabinet", Role: pyxis.RoleCabinet})
	}
}

// move records a transition; leaving a reserving status for a terminal one releases the
// stock, or consumes it when dispensed.
func (f *fakeAPI) move(req *fakeRequest, to workflows.Status, by pyxis.Actor) {
	from := req.view.Status
	req.view.Transitions = append(req.view.Transitions, workflows.Transition{From: from, To: to, Actor: by, At: time.Now().UTC(), Action: string(to)})
	req.view.Status = to
	req.view.Version++
	if (from == workflows.StatusAwaitingApproval || from == workflows.StatusApproved) && to.Terminal() {
		for _, it := range req.view.Items {
			k := [2]int64{req.view.CabinetID, it.MedicationID}
			onHand := f.stock[k][0]
			if to == workflows.StatusDispensed {
				onHand -= it.Quantity
			}
			f.stock[k] = [2]int32{onHand, f.stock[k][1] - it.Quantity}
		}
	}
}

// approvers returns, for each request, who approved it.
func (f *fakeAPI) approvers() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for id, r := range f.reqs {
		for _, a := range r.view.Approvals {
			out[id] = append(out[id], a.Actor.ID)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fakeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
}
