package api

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/workflows"
)

// The hot paths of a read: verifying the bearer token every request carries, and encoding a
// request's state as the answer. benchstat-comparable:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./api/ > new.txt

func BenchmarkVerifyHS256Token(b *testing.B) {
	cfg := DefaultConfig()
	cfg.JWTSecret = []byte("bench-secret-bench-secret-bench-secret")
	a := newAuthenticator(cfg, nil)
	tok, err := IssueToken(cfg.JWTSecret, "nurse-1", "Nina", pyxis.RoleNurse, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequestView(b *testing.B) {
	st := benchState()
	enc := json.NewEncoder(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(requestView(st)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchState is a dispensed request of three lines with two approvals: a large answer.
func benchState() workflows.State {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	nurse := pyxis.Actor{ID: "nurse-ana", Name: "Ana Souza", Role: pyxis.RoleNurse}
	p1 := pyxis.Actor{ID: "pharm-bruno", Name: "Bruno Alves", Role: pyxis.RolePharmacist}
	p2 := pyxis.Actor{ID: "pharm-dora", Name: "Dora Reis", Role: pyxis.RolePharmacist}
	deadline := t0.Add(15 * time.Minute)
	return workflows.State{
		ID: "medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9Y", Status: workflows.StatusDispensed, Priority: pyxis.PriorityStat,
		CabinetID: 1, CabinetCode: "PYX-ICU-01", Patient: pyxis.Patient{MRN: "MRN-778899", Bed: "12A"},
		Requester: nurse, Lines: []pyxis.Line{{MedicationID: 1, Quantity: 2}, {MedicationID: 9, Quantity: 1}, {MedicationID: 4, Quantity: 1}},
		Approvals: []workflows.Approval{{Actor: p1, At: t0.Add(time.Minute), Note: "renal dose checked"}, {Actor: p2, At: t0.Add(2 * time.Minute)}},
		Transitions: []workflows.Transition{
			{Seq: 1, To: workflows.StatusSubmitted, Action: "submitted", Actor: nurse, At: t0},
			{Seq: 2, From: workflows.StatusSubmitted, To: workflows.StatusAwaitingApproval, Action: "stock_reserved", Actor: pyxis.System, At: t0},
			{Seq: 3, From: workflows.StatusAwaitingApproval, To: workflows.StatusAwaitingApproval, Action: "approval_recorded", Actor: p1, At: t0.Add(time.Minute), Reason: "approval 1 of 2"},
			{Seq: 4, From: workflows.StatusAwaitingApproval, To: workflows.StatusApproved, Action: "approved", Actor: p2, At: t0.Add(2 * time.Minute)},
			{Seq: 5, From: workflows.StatusApproved, To: workflows.StatusReadyAtCabinet, Action: "authorized_at_cabinet", Actor: pyxis.System, At: t0.Add(2 * time.Minute)},
			{Seq: 6, From: workflows.StatusReadyAtCabinet, To: workflows.StatusDispensed, Action: "withdrawn", Actor: nurse, At: t0.Add(4 * time.Minute)},
		},
		RequiredApprovals: 2, CreatedAt: t0, UpdatedAt: t0.Add(4 * time.Minute), ApprovalDeadline: &deadline, WithdrawalDeadline: &deadline,
	}
}
