package codec_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/medreq/pyxis/codec"
)

// The guard opens what its keys sealed and refuses everything else, saying why and for which
// workflow, never what the payload held.
func TestGuardRefusesWhatItsKeysDidNotSeal(t *testing.T) {
	c, err := codec.New([]codec.Key{key(t, "k1")})
	require.NoError(t, err)
	other, err := codec.New([]codec.Key{key(t, "k1")}) // same id, another secret
	require.NoError(t, err)
	var got []codec.Refusal
	g := codec.NewGuard(c, func(r codec.Refusal) { got = append(got, r) })
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), g)
	wdc := converter.WithDataConverterSerializationContext(dc, converter.WorkflowSerializationContext{WorkflowID: "medreq-1"})

	sealed, err := wdc.ToPayload(patient{MRN: "MRN-7"})
	require.NoError(t, err)
	var p patient
	require.NoError(t, wdc.FromPayload(sealed, &p))
	assert.Equal(t, "MRN-7", p.MRN)
	assert.Empty(t, got)

	plain, err := converter.GetDefaultDataConverter().ToPayload(patient{MRN: "MRN-SECRET"})
	require.NoError(t, err)
	forgedWithOtherKey, err := other.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	unknownKey := proto.Clone(sealed).(*commonpb.Payload)
	unknownKey.Metadata[codec.MetadataKeyID] = []byte("k9")
	for reason, pl := range map[string]*commonpb.Payload{
		codec.RefusedNotEncrypted: plain, codec.RefusedDoesNotOpen: forgedWithOtherKey[0], codec.RefusedUnknownKey: unknownKey,
	} {
		got = nil
		err := wdc.FromPayload(pl, &p)
		require.ErrorIs(t, err, codec.ErrForged, reason)
		assert.NotContains(t, err.Error(), "MRN-SECRET")
		require.Len(t, got, 1, reason)
		assert.Equal(t, reason, got[0].Reason)
		assert.Equal(t, "medreq-1", got[0].WorkflowID)
		assert.NotEmpty(t, got[0].Fingerprint)
	}
}

// Failure messages and stack traces are sealed too: what Temporal stores says only "Encoded
// failure", and a client with the keys reads the message again.
func TestGuardedFailuresAreEncoded(t *testing.T) {
	c, err := codec.New([]codec.Key{key(t, "k1")})
	require.NoError(t, err)
	_, fc := codec.GuardedConverters(codec.NewGuard(c, nil))
	f := fc.ErrorToFailure(temporal.NewNonRetryableApplicationError("cabinet refused MRN-SECRET-1", "CabinetRefused", nil))
	assert.Equal(t, "Encoded failure", f.GetMessage())
	raw, err := proto.Marshal(f)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "MRN-SECRET-1")
	back := fc.FailureToError(f)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(back, &appErr))
	assert.Equal(t, "cabinet refused MRN-SECRET-1", appErr.Message())
	assert.Equal(t, "CabinetRefused", appErr.Type())
}
