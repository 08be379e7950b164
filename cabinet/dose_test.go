package cabinet

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseStrength(t *testing.T) {
	tests := []struct {
		in   string
		want Dose
		ok   bool
	}{
		{"500 mg", Dose{"500", "mg"}, true},
		{"500mg", Dose{"500", "mg"}, true},
		{" 40 MG ", Dose{"40", "mg"}, true},
		{"1 g", Dose{"1", "g"}, true},
		{"0,5 mg", Dose{"0.5", "mg"}, true},
		{"0.125 mg", Dose{"0.125", "mg"}, true},
		{"2.50 mg", Dose{"2.5", "mg"}, true},
		{"62.5 mcg", Dose{"62.5", "mcg"}, true},
		{"50 µg", Dose{"50", "mcg"}, true},
		{"100 UI", Dose{"100", "IU"}, true},
		{"100 IU", Dose{"100", "IU"}, true},
		{"10 units", Dose{"10", "U"}, true},
		{"20 mEq", Dose{"20", "mEq"}, true},
		{"100 mL", Dose{"100", "mL"}, true},
		{"", Dose{}, false},
		{"10 mg/mL", Dose{}, false},
		{"10 mg/mL, 1 mL", Dose{}, false},
		{"500 mg/mL, 2 mL", Dose{}, false},
		{"40 mg/0.4 mL", Dose{}, false},
		{"0.9 %", Dose{}, false},
		{"500 mg + 125 mg", Dose{}, false},
		{"1.000 mg", Dose{}, false},
		{"2,500 mg", Dose{}, false},
		{"mg", Dose{}, false},
		{"500", Dose{}, false},
		{"500 tablets", Dose{}, false},
		{"0 mg", Dose{}, false},
		{"1e3 mg", Dose{}, false},
		{"5 mg 10 mg", Dose{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseStrength(tt.in)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDoseTimes(t *testing.T) {
	tests := []struct {
		d    Dose
		n    int32
		want string
		ok   bool
	}{
		{Dose{"500", "mg"}, 2, "1000", true},
		{Dose{"0.5", "mg"}, 3, "1.5", true},
		{Dose{"62.5", "mcg"}, 2, "125", true},
		{Dose{"0.125", "mg"}, 1, "0.125", true},
		{Dose{"x", "mg"}, 1, "", false},
		{Dose{"1e3", "mg"}, 1, "", false},
	}
	for _, tt := range tests {
		got, ok := tt.d.Times(tt.n)
		assert.Equal(t, tt.ok, ok, "%v x %d", tt.d, tt.n)
		assert.Equal(t, tt.want, got.Amount, "%v x %d", tt.d, tt.n)
	}
}

func TestCount(t *testing.T) {
	var absent Count
	assert.Equal(t, "", absent.String())
	assert.Equal(t, int32(7), absent.Or(7))
	raw, err := absent.MarshalJSON()
	assert.NoError(t, err)
	assert.Equal(t, "null", string(raw))
	c := CountOf(0)
	n, ok := c.Get()
	assert.True(t, ok)
	assert.Equal(t, int32(0), n)
	assert.Equal(t, "0", c.String())
	var back Count
	assert.NoError(t, back.UnmarshalJSON([]byte("12")))
	assert.Equal(t, CountOf(12), back)
	assert.NoError(t, back.UnmarshalJSON([]byte("null")))
	assert.Equal(t, Count{}, back)
	assert.Error(t, back.UnmarshalJSON([]byte(`"x"`)))
}

func TestSimulatorRecordsItems(t *testing.T) {
	s := NewSimulator(0, nil, nil)
	defer s.Close()
	target := CabinetTarget{Driver: "sim", CabinetCode: "PYX-ICU-01"}
	item := Item{Code: "PARA500", Name: "Paracetamol", Strength: "500 mg", Form: "tablet", Unit: "tablet", New: true}
	assert.NoError(t, s.UpdateItem(context.Background(), target, item))
	got, ok := s.Item("PYX-ICU-01", "PARA500")
	assert.True(t, ok)
	assert.Equal(t, item, got)
	s.SetFault("PYX-ICU-01", FaultRefuse)
	var refused *RefusedError
	assert.ErrorAs(t, s.UpdateItem(context.Background(), target, item), &refused)
}
