package cabsim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      []string
		want    Faults
		wantErr bool
	}{
		{in: nil, want: Faults{}},
		{in: []string{"offline"}, want: Faults{Offline: true}},
		{in: []string{"slow=2s", " reject ", "busy", "drop", "duplicate"}, want: Faults{Slow: 2 * time.Second, Reject: true, Busy: true, Drop: true, Duplicate: true}},
		{in: []string{"slow=150ms"}, want: Faults{Slow: 150 * time.Millisecond}},
		{in: []string{"slow"}, wantErr: true},
		{in: []string{"slow=0s"}, wantErr: true},
		{in: []string{"slow=fast"}, wantErr: true},
		{in: []string{"reject=yes"}, wantErr: true},
		{in: []string{"refuse"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, ","), func(t *testing.T) {
			got, err := ParseFaults(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseFaults(got.List())
			require.NoError(t, err)
			assert.Equal(t, got, again, "List writes what ParseFaults reads")
		})
	}
}

func TestLoadStock(t *testing.T) {
	tests := []struct {
		name, json string
		wantErr    string
	}{
		{"valid", `{"cabinet":"PYX-ICU-01","pockets":[{"medication_code":"MORF10","drawer":"1","pocket":"A","quantity":10,"par_level":10,"controlled_class":"A1"}]}`, ""},
		{"no pockets is valid", `{"cabinet":"PYX-ICU-01","pockets":[]}`, ""},
		{"not JSON", `{`, "unexpected end"},
		{"no cabinet", `{"pockets":[]}`, "no cabinet code"},
		{"pocket without place", `{"cabinet":"C","pockets":[{"medication_code":"M"}]}`, "needs medication_code, drawer and pocket"},
		{"negative quantity", `{"cabinet":"C","pockets":[{"medication_code":"M","drawer":"1","pocket":"A","quantity":-1}]}`, "negative"},
		{"medication twice", `{"cabinet":"C","pockets":[{"medication_code":"M","drawer":"1","pocket":"A"},{"medication_code":"M","drawer":"1","pocket":"B"}]}`, "in two pockets"},
		{"place twice", `{"cabinet":"C","pockets":[{"medication_code":"M","drawer":"1","pocket":"A"},{"medication_code":"N","drawer":"1","pocket":"A"}]}`, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stock.json")
			require.NoError(t, os.WriteFile(path, []byte(tt.json), 0o600))
			sf, err := LoadStock(path)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "PYX-ICU-01", sf.Cabinet)
		})
	}
	_, err := LoadStock(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no listen address", Config{}},
		{"negative withdraw-after", Config{Listen: "127.0.0.1:0", WithdrawAfter: -time.Second}},
		{"unknown report format", Config{Listen: "127.0.0.1:0", ReportFormat: "xml"}},
		{"unknown fault", Config{Listen: "127.0.0.1:0", Faults: []string{"fire"}}},
		{"missing stock file", Config{Listen: "127.0.0.1:0", StockFile: "/nonexistent/stock.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			assert.Error(t, err)
		})
	}
}
