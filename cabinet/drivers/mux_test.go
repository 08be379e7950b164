package drivers_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/drivers"
)

// fake records which calls reached it.
type fake struct{ calls []string }

func (f *fake) Authorize(_ context.Context, o cabinet.Order) error {
	f.calls = append(f.calls, "authorize "+o.RequestID)
	return nil
}

func (f *fake) Revoke(_ context.Context, o cabinet.Order) error {
	f.calls = append(f.calls, "revoke "+o.RequestID)
	return nil
}

func (f *fake) UpdateItem(_ context.Context, c cabinet.CabinetTarget, item cabinet.Item) error {
	f.calls = append(f.calls, "item "+item.Code+" at "+c.CabinetCode)
	return nil
}

func TestMuxDispatchesOnTheOrdersDriver(t *testing.T) {
	tests := []struct {
		name    string
		driver  string
		noSim   bool
		wantSim []string
		wantHL7 []string
		refusal string
	}{
		{name: "sim", driver: "sim", wantSim: []string{"authorize r", "revoke r", "item M at PYX-1"}},
		{name: "hl7", driver: "hl7", wantHL7: []string{"authorize r", "revoke r", "item M at PYX-1"}},
		{name: "empty is refused: no default driver", driver: "", refusal: `unknown driver ""`},
		{name: "unknown", driver: "fax", refusal: `unknown driver "fax"`},
		{name: "sim not configured", driver: "sim", noSim: true, refusal: `unknown driver "sim"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, hl7 := &fake{}, &fake{}
			var simDriver cabinet.Driver = sim
			if tt.noSim {
				simDriver = nil
			}
			m := drivers.New(simDriver, hl7)
			o := cabinet.Order{RequestID: "r", CabinetCode: "PYX-1", Driver: tt.driver}
			errA, errR := m.Authorize(context.Background(), o), m.Revoke(context.Background(), o)
			errI := m.UpdateItem(context.Background(), o.Target(), cabinet.Item{Code: "M"})
			if tt.refusal != "" {
				for _, err := range []error{errA, errR, errI} {
					var refused *cabinet.RefusedError
					require.ErrorAs(t, err, &refused)
					assert.Equal(t, "PYX-1", refused.Cabinet)
					assert.Equal(t, tt.refusal, refused.Reason)
				}
				return
			}
			require.NoError(t, errA)
			require.NoError(t, errR)
			require.NoError(t, errI)
			assert.Equal(t, tt.wantSim, sim.calls)
			assert.Equal(t, tt.wantHL7, hl7.calls)
		})
	}
}

func TestMuxWithTheInProcessSimulator(t *testing.T) {
	sim := cabinet.NewSimulator(0, nil, nil)
	defer sim.Close()
	m := drivers.New(sim, nil)
	o := cabinet.Order{RequestID: "r", CabinetCode: "PYX-1", Driver: drivers.Sim}
	require.NoError(t, m.Authorize(context.Background(), o))
	assert.True(t, sim.Authorized("r"))
	o.Driver = drivers.HL7
	var refused *cabinet.RefusedError
	assert.ErrorAs(t, m.Authorize(context.Background(), o), &refused)
}

// siteFake is a driver that updates item masters per site.
type siteFake struct{ fake }

func (f *siteFake) UpdateItemAt(_ context.Context, s cabinet.Site, item cabinet.Item) error {
	f.calls = append(f.calls, "item "+item.Code+" at "+s.Address)
	return nil
}

func TestMuxUpdatesAnItemMasterPerSite(t *testing.T) {
	sim, hl7 := &fake{}, &siteFake{}
	m := drivers.New(sim, hl7)
	item := cabinet.Item{Code: "M"}
	require.NoError(t, m.UpdateItemAt(context.Background(), cabinet.Site{Driver: "hl7", Address: "es:2575", Cabinets: []string{"A", "B"}}, item))
	require.NoError(t, m.UpdateItemAt(context.Background(), cabinet.Site{Driver: "sim", Cabinets: []string{"A", "B"}}, item))
	assert.Equal(t, []string{"item M at es:2575"}, hl7.calls, "once for the site")
	assert.Equal(t, []string{"item M at A", "item M at B"}, sim.calls, "a driver without sites: once per cabinet")
	var refused *cabinet.RefusedError
	assert.ErrorAs(t, m.UpdateItemAt(context.Background(), cabinet.Site{Driver: "fax", Cabinets: []string{"A"}}, item), &refused)
}
