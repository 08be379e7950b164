package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
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

// TestPlaintextApprovalStraightToTemporalIsRefused is the attack of issue 17: whoever reaches
// the Temporal frontend sends `approve` with a pharmacist's name in plaintext, as
// `temporal workflow update execute --name approve` would. The worker refuses it (the Update
// is rejected), the request still awaits approval, and the refusal is audited.
func TestPlaintextApprovalStraightToTemporalIsRefused(t *testing.T) {
	c := newAPI(t, testConfig())
	f := c.fixture(5)
	nurse := c.token("nurse-forge", pyxis.RoleNurse)
	id := c.create(f, nurse, 1)
	c.waitStatus(id, nurse, "awaiting_approval")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// e2e.raw holds no codec key: its payloads are plaintext JSON.
	h, err := e2e.raw.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.ApproveUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{map[string]any{"actor": map[string]any{"id": "ph-2", "role": "pharmacist"}}},
	})
	if err == nil {
		// The rejection is the Update's outcome.
		err = h.Get(ctx, nil)
	}
	require.Error(t, err, "a plaintext approval was accepted")

	state := c.waitStatus(id, nurse, "awaiting_approval")
	if state.Approvals != nil {
		assert.Empty(t, *state.Approvals, "the forged approval counted")
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		entries, err := e2e.store.ListAudit(context.Background(), id)
		require.NoError(ct, err)
		var forged []pyxis.AuditEntry
		for _, e := range entries {
			assert.NotEqual(ct, "approved", e.Action)
			if e.Action == "forged_payload" {
				forged = append(forged, e)
			}
		}
		if assert.Len(ct, forged, 1) {
			assert.Equal(ct, codec.RefusedNotEncrypted, forged[0].Details["reason"])
			assert.Equal(ct, id, forged[0].Details["workflow_id"])
		}
	}, 10*time.Second, 100*time.Millisecond)

	// The request goes on as usual for the real pharmacist.
	status, body := c.do("POST", "/v1/requests/"+id+"/approve", c.token("pharm-forge", pyxis.RolePharmacist), map[string]any{"note": "ok"})
	require.Equal(t, http.StatusAccepted, status, body)
	c.waitStatus(id, nurse, "ready_at_cabinet")
}
