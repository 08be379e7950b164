package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/medreq/pyxis"
	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/workflows"
)

// rawHistory reads a workflow's history through a client without the codec: what Temporal
// (and its database) holds.
func rawHistory(t *testing.T, id string) []*historypb.HistoryEvent {
	t.Helper()
	iter := e2e.raw.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		events = append(events, e)
	}
	require.NotEmpty(t, events)
	return events
}

// TestPatientDataIsEncryptedInHistory runs a request to the end and reads its history as
// Temporal stores it: the MRN and bed appear nowhere, neither as text nor as bytes, while the
// API (whose client has the codec) still shows them, and the codec endpoint decodes them for a
// pharmacist only.
func TestPatientDataIsEncryptedInHistory(t *testing.T) {
	const mrn, bed = "MRN-SECRET-90817", "BED-ZX-42"
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-enc", pyxis.RoleNurse)
	pharmacist := c.token("pharm-enc", pyxis.RolePharmacist)
	status, body := c.do("POST", "/v1/requests", nurse, map[string]any{
		"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": mrn, "bed": bed},
		"priority": "urgent", "items": []map[string]any{{"medication_id": f.meds[0], "quantity": 1}},
	})
	require.Equal(t, http.StatusCreated, status, body)
	id := body["id"].(string)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body = c.do("POST", "/v1/requests/"+id+"/approve", pharmacist, map[string]any{"note": "ok"})
	require.Equal(t, http.StatusAccepted, status, body)
	c.waitStatus(id, nurse, "ready_at_cabinet")
	status, body = c.do("POST", fmt.Sprintf("/v1/cabinets/%d/events", f.cabinetID), nurse, map[string]any{"type": "withdrawn", "request_id": id})
	require.Equal(t, http.StatusAccepted, status, body)
	state := c.waitStatus(id, nurse, "dispensed")
	assert.Equal(t, apiclient.PatientBody{Mrn: mrn, Bed: ptr(bed)}, state.Patient, "the API decodes with the codec")

	events := rawHistory(t, id)
	var input *commonpb.Payload
	for _, e := range events {
		bin, err := proto.Marshal(e)
		require.NoError(t, err)
		text, err := protojson.Marshal(e)
		require.NoError(t, err)
		for _, secret := range []string{mrn, bed} {
			require.False(t, bytes.Contains(bin, []byte(secret)), "%s in the bytes of event %d (%s)", secret, e.GetEventId(), e.GetEventType())
			require.NotContains(t, string(text), secret, "event %d", e.GetEventId())
			require.NotContains(t, string(text), base64.StdEncoding.EncodeToString([]byte(secret))[:12], "event %d", e.GetEventId())
		}
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			input = a.GetInput().GetPayloads()[0]
		}
	}
	require.NotNil(t, input)
	assert.Equal(t, codec.EncodingEncrypted, string(input.GetMetadata()[codec.MetadataEncoding]))

	// A client without the key cannot read the state either.
	resp, err := e2e.raw.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
	if err == nil {
		var st workflows.State
		err = resp.Get(&st)
	}
	assert.Error(t, err, "the query result is encrypted too")

	// The codec endpoint, as the Web UI calls it.
	req, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{input}})
	require.NoError(t, err)
	status, raw := c.doRaw("POST", "/codec/decode", pharmacist, req, "X-Namespace", "default")
	require.Equal(t, http.StatusOK, status, string(raw))
	var decoded commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(raw, &decoded))
	assert.Contains(t, string(decoded.GetPayloads()[0].GetData()), mrn)
	status, raw = c.doRaw("POST", "/codec/decode", nurse, req)
	assert.Equal(t, http.StatusForbidden, status)
	assert.NotContains(t, string(raw), mrn)
	status, raw = c.doRaw("POST", "/codec/decode", "", req)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.NotContains(t, string(raw), mrn)
}

// TestAuditVerifyAfterARun checks the audit chain the whole end-to-end suite has written so
// far, concurrent workflows included.
func TestAuditVerifyAfterARun(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-audit", pyxis.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")
	status, body := c.do("GET", "/v1/audit/verify", c.token("admin-audit", pyxis.RoleAdmin), nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, true, body["ok"], body)
	assert.Positive(t, body["entries"])
	status, _ = c.do("GET", "/v1/audit/verify", nurse, nil)
	assert.Equal(t, http.StatusForbidden, status)
}

func TestSecurityConfig(t *testing.T) {
	key := codec.FormatKeys([]codec.Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}, {ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}})
	env := func(kv ...string) func(string) string {
		// Later pairs win, so a test can still override these two.
		return envOf(append([]string{"DATABASE_URL", "postgres://u:p@h/db", "TEMPORAL_ADDRESS", "h:7233"}, kv...)...)
	}
	secret := strings.Repeat("s", 32)

	cfg, err := loadConfig(env())
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, cfg.API.JWTLeeway)
	assert.Equal(t, "role", cfg.API.JWTRoleClaim)
	assert.EqualValues(t, 20, cfg.API.RateLimit)
	assert.Equal(t, 40, cfg.API.RateBurst)
	assert.ErrorContains(t, cfg.requireServices(false), "PYXIS_CODEC_KEYS is not set", "no silent plaintext")
	assert.ErrorContains(t, cfg.requireServices(true), "PYXIS_JWT_SECRET")

	cfg, err = loadConfig(env("PYXIS_CODEC_DISABLED", "true", "PYXIS_JWT_SECRET", secret))
	require.NoError(t, err)
	assert.NoError(t, cfg.requireServices(true), "an explicit opt-out")
	dc, err := cfg.dataConverter()
	require.NoError(t, err)
	assert.Nil(t, dc)

	cfg, err = loadConfig(env("PYXIS_CODEC_KEYS", key, "PYXIS_JWKS_URL", "https://idp.example/certs",
		"PYXIS_JWT_ISSUER", "https://idp.example", "PYXIS_JWT_AUDIENCE", "pyxis", "PYXIS_JWT_ROLE_CLAIM", "realm_access.roles",
		"PYXIS_JWT_LEEWAY", "5s", "PYXIS_CODEC_CORS_ORIGINS", "https://ui.example, http://localhost:8233",
		"PYXIS_RATE_LIMIT", "2.5", "PYXIS_RATE_BURST", "5", "PYXIS_HSTS", "true"))
	require.NoError(t, err)
	assert.NoError(t, cfg.requireServices(true), "a JWKS alone is enough")
	assert.Equal(t, "realm_access.roles", cfg.API.JWTRoleClaim)
	assert.Equal(t, 5*time.Second, cfg.API.JWTLeeway)
	assert.Equal(t, []string{"https://ui.example", "http://localhost:8233"}, cfg.API.CodecCORSOrigins)
	assert.Equal(t, 2.5, cfg.API.RateLimit)
	assert.True(t, cfg.API.HSTS)
	cd, err := cfg.payloadCodec()
	require.NoError(t, err)
	assert.Equal(t, "k2", cd.KeyID())
	assert.NotContains(t, cfg.String(), key[4:20], "keys are never logged")
	assert.Contains(t, cfg.String(), "encrypting with k2")

	_, err = loadConfig(env("PYXIS_JWKS_URL", "https://idp.example/certs", "PYXIS_CODEC_KEYS", "k1:short",
		"PYXIS_CODEC_CORS_ORIGINS", "*", "PYXIS_RATE_LIMIT", "-1", "PYXIS_JWT_LEEWAY", "soon", "PYXIS_HSTS", "maybe"))
	for _, want := range []string{"PYXIS_JWT_ISSUER and PYXIS_JWT_AUDIENCE", "PYXIS_CODEC_KEYS", "PYXIS_CODEC_CORS_ORIGINS", "PYXIS_RATE_LIMIT", "PYXIS_JWT_LEEWAY", "PYXIS_HSTS"} {
		assert.ErrorContains(t, err, want)
	}
	cfg, err = loadConfig(env("PYXIS_JWT_SECRET", "short", "PYXIS_CODEC_DISABLED", "true"))
	require.NoError(t, err)
	assert.ErrorContains(t, cfg.requireServices(true), "at least 32 characters")
}

func TestDevCodecKeysAreKept(t *testing.T) {
	dir := t.TempDir()
	first, err := devCodecKeys(dir)
	require.NoError(t, err)
	require.Len(t, first, 1)
	again, err := devCodecKeys(dir)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a restart decrypts what the last run wrote")
	info, err := os.Stat(filepath.Join(dir, "codec-keys"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	assert.Equal(t, "http://127.0.0.1:8080/codec", devCodecEndpoint("127.0.0.1:8233", "[::]:8080"))
	assert.Equal(t, "http://localhost:9000/codec", devCodecEndpoint("0.0.0.0:8233", "127.0.0.1:9000"))
	assert.Equal(t, []string{"http://127.0.0.1:8233", "http://localhost:8233"}, browserOrigins("http://127.0.0.1:8233"))
}
