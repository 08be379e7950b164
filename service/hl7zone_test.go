package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// cabinetRows stands in for the database's cabinet rows.
type cabinetRows []pyxis.Cabinet

func (c cabinetRows) ListCabinets(context.Context) ([]pyxis.Cabinet, error) { return c, nil }

func TestHL7ZoneRequiredWithHL7Cabinets(t *testing.T) {
	ctx := context.Background()
	rows := cabinetRows{{Code: "SIM-1", Driver: "sim"}, {Code: "PYX-2", Driver: "hl7"}, {Code: "PYX-1", Driver: "hl7"}}

	err := HL7Config{}.RequireZone(ctx, rows)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PYXIS_HL7_TIMEZONE is not set")
	assert.Contains(t, err.Error(), "PYX-2, PYX-1")
	assert.NotContains(t, err.Error(), "SIM-1")

	assert.NoError(t, HL7Config{}.RequireZone(ctx, rows[:1]), "simulated cabinets need no zone")
	sp, err := time.LoadLocation("America/Sao_Paulo")
	require.NoError(t, err)
	assert.NoError(t, HL7Config{Location: sp}.RequireZone(ctx, rows))
}

// The zone of PYXIS_HL7_TIMEZONE reaches what the driver sends: an order issued at 15:00 UTC
// leaves as 12:00 with São Paulo's offset.
func TestCabinetDriversWriteTheHospitalsZone(t *testing.T) {
	var mu sync.Mutex
	var got []byte
	srv := mllp.NewServer(func(_ context.Context, raw []byte) []byte {
		mu.Lock()
		got = append([]byte(nil), raw...)
		mu.Unlock()
		return hl7.Answer(raw, hl7.Ack{Code: hl7.AckAccept}, time.Now())
	}, mllp.ServerOptions{})
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	go func() { _ = srv.Serve(context.Background()) }()
	t.Cleanup(func() { _ = srv.Close() })

	var cfg Config
	require.Empty(t, loadHL7(envOf("PYXIS_HL7_TIMEZONE", "America/Sao_Paulo", "PYXIS_HL7_SENDING_FACILITY", "HOSP",
		"PYXIS_HL7_ASSIGNING_AUTHORITY", "HOSP-MRN", "PYXIS_HL7_PATIENT_CLASS", "E"), &cfg.HL7))
	cfg.CabinetAckTimeout = 5 * time.Second
	d, closeDrivers := NewCabinetDrivers(nil, cfg)
	defer closeDrivers()
	issued := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	require.NoError(t, d.Authorize(context.Background(), cabinet.Order{
		RequestID: "medreq-01J00000000000000000000000", CabinetCode: "PYX-1", CabinetUnit: "ICU",
		Driver: "hl7", Address: srv.Addr().String(), PatientMRN: "MRN1", PatientBed: "12B", IssuedAt: issued,
		Lines: []cabinet.Line{{MedicationCode: "PARA500", MedicationName: "Paracetamol", Unit: "tablet", Quantity: 1}},
	}))
	mu.Lock()
	defer mu.Unlock()
	h, err := hl7.ParseHeader(got)
	require.NoError(t, err)
	assert.Equal(t, "20260302120000-0300", h.Time, "MSH-7")
	m, err := hl7.Parse(got)
	require.NoError(t, err)
	pid := m.Segment("PID")
	assert.Equal(t, []string{"MRN1", "HOSP-MRN", "MR"}, []string{pid.Component(3, 1, 1), pid.Component(3, 1, 4), pid.Component(3, 1, 5)},
		"PID-3 with PYXIS_HL7_ASSIGNING_AUTHORITY")
	assert.Equal(t, "", m.Segment("PID").Value(5), "no name: PID-5 empty")
	assert.Equal(t, "E", m.Segment("PV1").Value(2), "PYXIS_HL7_PATIENT_CLASS")
	pv1 := m.Segment("PV1")
	assert.Equal(t, []string{"ICU", "", "12B"}, []string{pv1.Component(3, 1, 1), pv1.Component(3, 1, 2), pv1.Component(3, 1, 3)}, "PV1-3 unit, room, bed")
}
