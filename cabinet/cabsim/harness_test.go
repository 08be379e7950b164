package cabsim

import (
	"context"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// received is one report as the test's listener got it.
type received struct {
	controlID, cabinet, raw string
	code                    hl7.AckCode
	at                      time.Time
}

// reportListener stands in for the system's MLLP listener: it answers each report as
// answer says (given the report's cabinet and how many times this control id came before)
// and records everything it got.
type reportListener struct {
	addr string
	srv  *mllp.Server

	mu     sync.Mutex
	answer func(cabinet, controlID string, attempt int) hl7.AckCode
	got    []received
}

// listenReports starts a report listener on addr ("" for a free port) until the test ends.
func listenReports(t *testing.T, addr string, answer func(cabinet, controlID string, attempt int) hl7.AckCode) *reportListener {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l := &reportListener{answer: answer}
	l.srv = mllp.NewServer(l.handle, mllp.ServerOptions{Logger: quiet})
	require.NoError(t, l.srv.Listen(addr))
	l.addr = l.srv.Addr().String()
	go func() { _ = l.srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = l.srv.Close() })
	return l
}

func (l *reportListener) handle(_ context.Context, raw []byte) []byte {
	h, err := hl7.ParseHeader(raw)
	if err != nil {
		return nil
	}
	l.mu.Lock()
	attempt := 1
	for _, r := range l.got {
		if r.controlID == h.ControlID {
			attempt++
		}
	}
	code := l.answer(h.SendingApp, h.ControlID, attempt)
	l.got = append(l.got, received{controlID: h.ControlID, cabinet: h.SendingApp, raw: string(raw), code: code, at: time.Now()})
	l.mu.Unlock()
	ack, err := hl7.Reply(h, hl7.Ack{Code: code, Text: "test listener says " + string(code)}, time.Now())
	if err != nil {
		return nil
	}
	return ack
}

// setAnswer changes how the listener answers from now on.
func (l *reportListener) setAnswer(answer func(cabinet, controlID string, attempt int) hl7.AckCode) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answer = answer
}

// all returns everything received, in order.
func (l *reportListener) all() []received {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// accepted returns the control ids answered AA, in the order answered.
func (l *reportListener) accepted() []string {
	var ids []string
	for _, r := range l.all() {
		if r.code == hl7.AckAccept {
			ids = append(ids, r.controlID)
		}
	}
	return ids
}

// of returns what was received of one control id.
func (l *reportListener) of(controlID string) []received {
	var out []received
	for _, r := range l.all() {
		if r.controlID == controlID {
			out = append(out, r)
		}
	}
	return out
}

// always answers every report with code.
func always(code hl7.AckCode) func(string, string, int) hl7.AckCode {
	return func(string, string, int) hl7.AckCode { return code }
}

// freeAddr returns a loopback address nothing listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// vendID is the control id of the RDS reporting the withdrawal of a request of PYX-ICU-01.
func vendID(requestID string) string { return hl7.ShortID("RV", "PYX-ICU-01|"+requestID) }

// accept sends an order (or a cancellation) and requires its AA.
func accept(t *testing.T, s *Sim, requestID string, oc hl7.OrderControl) hl7.Ack {
	t.Helper()
	ack, err := sendOrder(t, s, requestID, oc)
	require.NoError(t, err)
	require.Equal(t, hl7.AckAccept, ack.Code, ack.Text)
	return ack
}

// copyFile copies src to dst as it is now, as a SIGKILL would leave it.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, raw, 0o600))
}

// heldIDs reads a state file and returns the request ids it holds.
func heldIDs(t *testing.T, path string) []string {
	t.Helper()
	st, err := readState(path)
	require.NoError(t, err)
	require.NotNil(t, st)
	var ids []string
	for _, o := range st.Orders {
		ids = append(ids, o.RequestID)
	}
	return ids
}

// cabItem is an item master entry.
var cabItem = cabinet.Item{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet", New: true}
