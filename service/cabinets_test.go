package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHL7Settings(t *testing.T) {
	env := envOf
	var h HL7Config
	require.Empty(t, loadHL7(env(), &h))
	assert.Equal(t, "P", h.ProcessingID)
	assert.Nil(t, h.Location, "unset: RequireZone decides")
	assert.Equal(t, 5*time.Second, h.ConnectTimeout)
	assert.Equal(t, 1, h.PoolSize)
	assert.Equal(t, []string{"I", ""}, []string{h.PatientClass, h.AssigningAuthority}, "I; the authority defaults to the sending facility in the encoder")
	assert.False(t, h.Enhanced)
	assert.Equal(t, 64<<10, h.MaxFrame)
	assert.Equal(t, 10*time.Second, h.FirstFrameTimeout)
	assert.Equal(t, 10*time.Minute, h.IdleTimeout)
	assert.Contains(t, h.String(), "hl7_processing_id=P hl7_timezone=(unset) hl7_ack_mode=original hl7_id_retention=720h0m0s cabinet_pool_size=1 mllp_tls=off")

	h = HL7Config{}
	require.Empty(t, loadHL7(env("PYXIS_HL7_PROCESSING_ID", "T", "PYXIS_HL7_TIMEZONE", "America/Sao_Paulo",
		"PYXIS_HL7_ACK_MODE", "enhanced", "PYXIS_CABINET_CONNECT_TIMEOUT", "2s", "PYXIS_CABINET_POOL_SIZE", "2",
		"PYXIS_HL7_SENDING_FACILITY", "HOSP", "PYXIS_HL7_RECEIVING_FACILITY", "ICU",
		"PYXIS_MLLP_MAX_FRAME", "131072", "PYXIS_MLLP_FIRST_FRAME_TIMEOUT", "3s", "PYXIS_MLLP_IDLE_TIMEOUT", "2m"), &h))
	assert.Equal(t, 128<<10, h.MaxFrame)
	assert.Equal(t, 3*time.Second, h.FirstFrameTimeout)
	assert.Equal(t, 2*time.Minute, h.IdleTimeout)
	assert.Equal(t, "T", h.ProcessingID)
	assert.Equal(t, "America/Sao_Paulo", h.Location.String())
	assert.True(t, h.Enhanced)
	assert.Equal(t, 2*time.Second, h.ConnectTimeout)
	assert.Equal(t, 2, h.PoolSize)
	assert.Equal(t, "HOSP", h.SendingFacility)
	assert.Equal(t, "ICU", h.ReceivingFacility)
	h = HL7Config{}
	require.Empty(t, loadHL7(env("PYXIS_HL7_PATIENT_CLASS", "E", "PYXIS_HL7_ASSIGNING_AUTHORITY", "HOSP-MRN"), &h))
	assert.Equal(t, []string{"E", "HOSP-MRN"}, []string{h.PatientClass, h.AssigningAuthority})
	for v, want := range map[string]time.Duration{"30d": 720 * time.Hour, "36h": 36 * time.Hour, "1d": 24 * time.Hour} {
		h = HL7Config{}
		require.Empty(t, loadHL7(env("PYXIS_HL7_ID_RETENTION", v), &h), v)
		assert.Equal(t, want, h.IDRetention, v)
	}

	for name, bad := range map[string][]string{
		"processing id":                    {"PYXIS_HL7_PROCESSING_ID", "X"},
		"time zone":                        {"PYXIS_HL7_TIMEZONE", "Mars/Olympus"},
		"local time zone":                  {"PYXIS_HL7_TIMEZONE", "Local"},
		"ack mode":                         {"PYXIS_HL7_ACK_MODE", "loud"},
		"connect timeout":                  {"PYXIS_CABINET_CONNECT_TIMEOUT", "forever"},
		"pool size":                        {"PYXIS_CABINET_POOL_SIZE", "0"},
		"patient class":                    {"PYXIS_HL7_PATIENT_CLASS", "inpatient"},
		"id retention":                     {"PYXIS_HL7_ID_RETENTION", "a month"},
		"id retention days":                {"PYXIS_HL7_ID_RETENTION", "1.5d"},
		"id retention short":               {"PYXIS_HL7_ID_RETENTION", "5m"},
		"certificate alone":                {"PYXIS_MLLP_TLS_CERT", "/x.pem"},
		"client CA alone":                  {"PYXIS_MLLP_TLS_CLIENT_CA", "/ca.pem"},
		"unreadable TLS pair":              {"PYXIS_MLLP_TLS_CERT", "/nonexistent.pem", "PYXIS_MLLP_TLS_KEY", "/nonexistent.key"},
		"tiny frames":                      {"PYXIS_MLLP_MAX_FRAME", "10"},
		"huge frames":                      {"PYXIS_MLLP_MAX_FRAME", "99999999"},
		"first frame timeout":              {"PYXIS_MLLP_FIRST_FRAME_TIMEOUT", "soon"},
		"idle timeout":                     {"PYXIS_MLLP_IDLE_TIMEOUT", "1ms"},
		"cabinet client cert without a CA": {"PYXIS_CABINET_TLS_CERT", "/c.pem", "PYXIS_CABINET_TLS_KEY", "/c.key"},
		"unreadable cabinet CA":            {"PYXIS_CABINET_TLS_CA", "/nonexistent-ca.pem"},
	} {
		t.Run(name, func(t *testing.T) {
			var h HL7Config
			assert.NotEmpty(t, loadHL7(env(bad...), &h))
		})
	}
}
