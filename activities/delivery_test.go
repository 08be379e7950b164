package activities_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/activities"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/hl7driver"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// silent is a "code" for frameRecorder: no answer at all.
const silent hl7.AckCode = "-"

// frameRecorder is a cabinet over real MLLP that records every frame it receives and
// answers each with the next of its codes (the last one from then on).
type frameRecorder struct {
	addr string

	mu    sync.Mutex
	codes []hl7.AckCode
	got   [][]byte
}

func newFrameRecorder(t *testing.T, codes ...hl7.AckCode) *frameRecorder {
	t.Helper()
	r := &frameRecorder{codes: codes}
	srv := mllp.NewServer(r.handle, mllp.ServerOptions{})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	go func() { _ = srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = srv.Close() })
	r.addr = srv.Addr().String()
	return r
}

func (r *frameRecorder) handle(_ context.Context, raw []byte) []byte {
	r.mu.Lock()
	code := r.codes[min(len(r.got), len(r.codes)-1)]
	r.got = append(r.got, append([]byte(nil), raw...))
	r.mu.Unlock()
	h, err := hl7.ParseHeader(raw)
	if err != nil || code == silent {
		return nil
	}
	out, _ := hl7.Reply(h, hl7.Ack{Code: code, Text: "busy"}, time.Now())
	return out
}

func (r *frameRecorder) frames() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...)
}

// Resends repeat the stored bytes: the workflow hands every attempt of a command the same
// Delivery (its order prepared once, its times fixed), so two attempts put the same bytes on
// the wire, MSH-10, MSH-7, ORC-9 and TQ1-7 included, even from two workers whose clocks
// differ. The attempt answered AR is recorded for the request's view, and the one answered
// AA settles it; the cancel is the same message on each attempt too.
func TestResendsPutTheSameBytesOnTheWire(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	ctx := context.Background()
	rec := newFrameRecorder(t, hl7.AckReject, hl7.AckAccept)
	cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "HL7-1", Name: "ward", Unit: "W1", Driver: "hl7", Address: rec.addr})
	require.NoError(t, err)
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet"})
	require.NoError(t, err)
	_, err = store.SetStock(ctx, cab.ID, med.ID, 5, 1, pyxis.Actor{ID: "tech", Role: pyxis.RoleTechnician})
	require.NoError(t, err)
	const id = "medreq-01JQ8ZK3M4V7XYZABCDEFGHJ"
	lines := []pyxis.Line{{MedicationID: med.ID, Quantity: 1}}
	header := pyxis.RequestHeader{Requester: pyxis.Actor{ID: "nurse", Role: pyxis.RoleNurse}, Patient: pyxis.Patient{MRN: "MRN-1"},
		CabinetID: cab.ID, Priority: pyxis.PriorityRoutine, Lines: lines, RequiredApprovals: 1}
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	_, err = store.Admit(ctx, pyxis.Admission{RequestID: id, CabinetID: cab.ID, Lines: lines,
		Submitted: pyxis.Transition{RequestID: id, Seq: 1, Status: "submitted", Action: "submitted", At: at, Actor: header.Requester, Header: &header},
		Reserved:  pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "awaiting_approval", Action: "stock_reserved", At: at, Actor: pyxis.System},
		Refused:   pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "failed", Action: "reserve_failed", At: at, Actor: pyxis.System},
	})
	require.NoError(t, err)

	// Two workers, each with its driver and a clock of its own.
	worker := func(now time.Time) (*activities.Activities, *testsuite.TestActivityEnvironment) {
		d := hl7driver.New(hl7driver.Options{AckTimeout: 2 * time.Second, Now: func() time.Time { return now }})
		t.Cleanup(func() { _ = d.Close() })
		a := &activities.Activities{Store: store, Cabinets: d}
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		return a, env
	}
	a1, env1 := worker(at.Add(7 * time.Second))
	a2, env2 := worker(at.Add(time.Hour))

	v, err := env1.ExecuteActivity(a1.PrepareOrder, activities.CabinetInput{RequestID: id, RequestHeader: header})
	require.NoError(t, err)
	var o cabinet.Order
	require.NoError(t, v.Get(&o))
	o.IssuedAt, o.StartAt, o.EndAt = at, at, at.Add(2*time.Hour)
	delivery := activities.Delivery{Order: o, CabinetID: cab.ID}

	_, err = env1.ExecuteActivity(a1.DispenseOrder, delivery)
	require.Error(t, err, "answered AR: retried")
	var appErr *temporal.ApplicationError
	assert.False(t, errorAs(err, &appErr) && appErr.NonRetryable(), "%v", err)
	d, err := store.GetRequestDetail(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, d.CabinetDelivery, "the failed attempt is on the request's view")
	assert.Equal(t, pyxis.DeliveryAuthorize, d.CabinetDelivery.Command)
	assert.Equal(t, "the cabinet answered AR: not now", d.CabinetDelivery.LastError)

	_, err = env2.ExecuteActivity(a2.DispenseOrder, delivery)
	require.NoError(t, err, "the other worker's attempt is acknowledged")
	d, err = store.GetRequestDetail(ctx, id)
	require.NoError(t, err)
	assert.Nil(t, d.CabinetDelivery, "acknowledged: nothing waits")

	frames := rec.frames()
	require.Len(t, frames, 2)
	assert.Equal(t, string(frames[0]), string(frames[1]), "the resend is the first attempt's bytes")
	m, err := hl7.Parse(frames[0])
	require.NoError(t, err)
	assert.Equal(t, "20260314092653+0000", m.Header().Time, "MSH-7 is the order's issue, not a worker's clock")
	assert.Equal(t, "20260314112653+0000", m.Segment("TQ1").Value(8), "TQ1-8 closes the withdrawal window")

	// The cancel: issued once, the same bytes on each attempt.
	cancel := delivery
	cancel.IssuedAt = at.Add(10 * time.Minute)
	_, err = env2.ExecuteActivity(a2.WithdrawOrder, cancel)
	require.NoError(t, err)
	_, err = env1.ExecuteActivity(a1.WithdrawOrder, cancel)
	require.NoError(t, err)
	frames = rec.frames()
	require.Len(t, frames, 4)
	assert.Equal(t, string(frames[2]), string(frames[3]))
	assert.NotEqual(t, string(frames[0]), string(frames[2]), "the cancel is a message of its own")
}

func errorAs(err error, target **temporal.ApplicationError) bool {
	return errors.As(err, target)
}

// seedRequest makes an HL7 cabinet at addr, a medication and request id awaiting approval,
// and returns the delivery of its order with fixed times.
func seedRequest(t *testing.T, store *db.Store, addr, id string) activities.Delivery {
	t.Helper()
	ctx := context.Background()
	cab, err := store.CreateCabinet(ctx, db.NewCabinet{Code: "HL7-" + id[len(id)-4:], Name: "ward", Unit: "W1", Driver: "hl7", Address: addr})
	require.NoError(t, err)
	med, err := store.CreateMedication(ctx, db.NewMedication{Code: "MED-" + id[len(id)-4:], Name: "Paracetamol", Unit: "tablet"})
	require.NoError(t, err)
	_, err = store.SetStock(ctx, cab.ID, med.ID, 5, 1, pyxis.Actor{ID: "tech", Role: pyxis.RoleTechnician})
	require.NoError(t, err)
	lines := []pyxis.Line{{MedicationID: med.ID, Quantity: 1}}
	header := pyxis.RequestHeader{Requester: pyxis.Actor{ID: "nurse", Role: pyxis.RoleNurse}, Patient: pyxis.Patient{MRN: "MRN-1"},
		CabinetID: cab.ID, Priority: pyxis.PriorityRoutine, Lines: lines, RequiredApprovals: 1}
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	_, err = store.Admit(ctx, pyxis.Admission{RequestID: id, CabinetID: cab.ID, Lines: lines,
		Submitted: pyxis.Transition{RequestID: id, Seq: 1, Status: "submitted", Action: "submitted", At: at, Actor: header.Requester, Header: &header},
		Reserved:  pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "awaiting_approval", Action: "stock_reserved", At: at, Actor: pyxis.System},
		Refused:   pyxis.Transition{RequestID: id, Seq: 2, From: "submitted", Status: "failed", Action: "reserve_failed", At: at, Actor: pyxis.System},
	})
	require.NoError(t, err)
	o := cabinet.Order{RequestID: id, CabinetCode: cab.Code, Driver: "hl7", Address: addr, PatientMRN: "MRN-1",
		IssuedAt: at, StartAt: at, EndAt: at.Add(2 * time.Hour),
		Lines: []cabinet.Line{{MedicationID: med.ID, MedicationCode: med.Code, Unit: "tablet", Quantity: 1}}}
	return activities.Delivery{Order: o, CabinetID: cab.ID}
}

// An NW answered AE after an earlier attempt went unanswered may be held by the cabinet: the
// refusal says so (its second detail), even when the attempts ran on two workers, whose
// drivers cannot know of each other's: the earlier attempt is in Postgres.
func TestRefusalAfterAnUnansweredAttemptOnAnotherWorker(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	rec := newFrameRecorder(t, silent, hl7.AckError)
	delivery := seedRequest(t, store, rec.addr, "medreq-01JQ8ZK3M4V7XYZABCDEFGH1")
	worker := func() (*activities.Activities, *testsuite.TestActivityEnvironment) {
		d := hl7driver.New(hl7driver.Options{AckTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = d.Close() })
		a := &activities.Activities{Store: store, Cabinets: d}
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		return a, env
	}
	a1, env1 := worker()
	a2, env2 := worker()

	_, err := env1.ExecuteActivity(a1.DispenseOrder, delivery)
	require.Error(t, err, "no answer: retried")
	_, err = env2.ExecuteActivity(a2.DispenseOrder, delivery)
	var appErr *temporal.ApplicationError
	require.True(t, errorAs(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrCabinetRefused, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	var (
		reason string
		maybe  bool
	)
	require.NoError(t, appErr.Details(&reason, &maybe))
	assert.True(t, maybe, "the first attempt may have reached the cabinet")
	assert.Len(t, rec.frames(), 2)

	// A refusal with no unanswered attempt before it is a plain refusal.
	rec2 := newFrameRecorder(t, hl7.AckError)
	plain := seedRequest(t, store, rec2.addr, "medreq-01JQ8ZK3M4V7XYZABCDEFGH2")
	_, err = env1.ExecuteActivity(a1.DispenseOrder, plain)
	require.True(t, errorAs(err, &appErr), "%v", err)
	require.NoError(t, appErr.Details(&reason, &maybe))
	assert.False(t, maybe)
}
