package codec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Why a Guard refused a payload (Refusal.Reason).
const (
	// RefusedNotEncrypted: the payload was not sealed by a codec at all (plaintext JSON, say).
	RefusedNotEncrypted = "not_encrypted"
	// RefusedUnknownKey: the payload names a key this system does not have.
	RefusedUnknownKey = "unknown_key"
	// RefusedDoesNotOpen: the payload names one of our keys but does not open with it: it was
	// altered, relabelled or made up.
	RefusedDoesNotOpen = "does_not_open"
)

// ErrForged is wrapped by every error of a Guard's Decode: the payload was not sealed with
// this system's keys, so nobody who holds them wrote it.
var ErrForged = errors.New("payload not sealed with this system's codec keys")

// Refusal is one payload a Guard refused to decode.
type Refusal struct {
	// WorkflowID is the workflow the payload was meant for (a start, an Update, a signal, a
	// query), from the SDK's serialization context; "" when the SDK gave none.
	WorkflowID string
	// Reason is one of the Refused... constants.
	Reason string
	// Fingerprint is a short hash of the refused payload: the same payload seen again (a
	// workflow task retried, a history replayed) has the same fingerprint.
	Fingerprint string
}

// Guard is the payload codec of every Temporal client of the system, and so of the worker:
// it encrypts like its Codec, and decodes only payloads its Codec sealed. Anyone who reaches
// the Temporal frontend can start a workflow, send it an Update or a signal, or complete an
// activity task; without the codec keys they cannot seal the payload, and AES-GCM makes the
// seal authenticate its writer. So a plaintext or undecryptable payload is refused: the SDK
// rejects an Update whose input does not decode (before its validator, so history stays
// clean), fails a workflow whose start input does not decode before it does anything, and
// drops a signal that does not decode.
//
// Each refusal is also reported to the refused callback, which audits it. The callback runs
// inside the SDK's decoding, on a workflow's goroutine: it must not block.
type Guard struct {
	codec      *Codec
	refused    func(Refusal)
	workflowID string
}

var (
	_ converter.PayloadCodec                         = (*Guard)(nil)
	_ converter.PayloadCodecWithSerializationContext = (*Guard)(nil)
)

// NewGuard returns a Guard over c; refused (may be nil) hears of every refused payload.
func NewGuard(c *Codec, refused func(Refusal)) *Guard {
	return &Guard{codec: c, refused: refused}
}

// Encode seals the payloads with the codec's current key.
func (g *Guard) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return g.codec.Encode(payloads)
}

// Decode opens the payloads, and refuses all of them if any one was not sealed with the
// codec's keys: the error wraps ErrForged and says why, never what the payload held.
func (g *Guard) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			return nil, g.refuse(p, RefusedNotEncrypted)
		}
		d, reason, err := g.codec.open(p)
		if err != nil {
			return nil, g.refuse(p, reason)
		}
		out[i] = d
	}
	return out, nil
}

func (g *Guard) refuse(p *commonpb.Payload, reason string) error {
	r := Refusal{WorkflowID: g.workflowID, Reason: reason, Fingerprint: fingerprint(p)}
	if g.refused != nil {
		g.refused(r)
	}
	return fmt.Errorf("codec: %w (%s)", ErrForged, reason)
}

func fingerprint(p *commonpb.Payload) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		b = p.GetData()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// WithSerializationContext returns a Guard that names the workflow (or the activity's
// workflow) the SDK is decoding for in its refusals.
func (g *Guard) WithSerializationContext(sc converter.SerializationContext) converter.PayloadCodec {
	id := ""
	switch sc := sc.(type) {
	case converter.WorkflowSerializationContext:
		id = sc.WorkflowID
	case converter.ActivitySerializationContext:
		id = sc.WorkflowID
	}
	if id == g.workflowID {
		return g
	}
	cp := *g
	cp.workflowID = id
	return &cp
}

// GuardedConverters returns the data converter and the failure converter of every Temporal
// client of the system: payloads through g, and failures with their message and stack trace
// sealed too (EncodeCommonAttributes), so a cabinet's refusal text or an error that quotes
// patient data is not stored in plaintext. Failures that Temporal itself writes (timeouts,
// terminations) carry no encoded attributes and read as they are.
func GuardedConverters(g *Guard) (converter.DataConverter, converter.FailureConverter) {
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), g)
	fc := temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter: dc, EncodeCommonAttributes: true,
	})
	return dc, fc
}
