package codec_test

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/medreq/pyxis/codec"
	"github.com/medreq/pyxis/workflows"
)

func key(t *testing.T, id string) codec.Key {
	t.Helper()
	k, err := codec.GenerateKey(id)
	require.NoError(t, err)
	return k
}

type patient struct {
	MRN string
	Bed string
}

func TestRoundTripHidesThePlaintext(t *testing.T) {
	dc, err := codec.DataConverter([]codec.Key{key(t, "k1")})
	require.NoError(t, err)
	in := patient{MRN: "MRN-SECRET-4711", Bed: "BED-99Z"}
	p, err := dc.ToPayload(in)
	require.NoError(t, err)
	assert.Equal(t, codec.EncodingEncrypted, string(p.Metadata[codec.MetadataEncoding]))
	assert.Equal(t, "k1", string(p.Metadata[codec.MetadataKeyID]))
	assert.NotContains(t, string(p.Data), "MRN-SECRET-4711")
	assert.NotContains(t, string(p.Data), "json/plain", "the inner metadata is sealed too")

	var out patient
	require.NoError(t, dc.FromPayload(p, &out))
	assert.Equal(t, in, out)

	// Two encodings of the same value differ (random nonce).
	p2, err := dc.ToPayload(in)
	require.NoError(t, err)
	assert.False(t, bytes.Equal(p.Data, p2.Data))
}

func TestRotation(t *testing.T) {
	old, next := key(t, "2025"), key(t, "2026")
	before, err := codec.New([]codec.Key{old})
	require.NoError(t, err)
	after, err := codec.New([]codec.Key{old, next})
	require.NoError(t, err)
	assert.Equal(t, "2026", after.KeyID(), "the newest (last) key encrypts")

	plain := []*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"MRN-1"`)}}
	sealedOld, err := before.Encode(plain)
	require.NoError(t, err)
	sealedNew, err := after.Encode(plain)
	require.NoError(t, err)
	assert.Equal(t, "2026", string(sealedNew[0].Metadata[codec.MetadataKeyID]))

	for name, sealed := range map[string][]*commonpb.Payload{"old": sealedOld, "new": sealedNew} {
		got, err := after.Decode(sealed)
		require.NoError(t, err, name)
		assert.Equal(t, `"MRN-1"`, string(got[0].Data), name)
		assert.Equal(t, "json/plain", string(got[0].Metadata["encoding"]), name)
	}

	// Once the old key is retired, its payloads no longer open, with a clear error.
	retired, err := codec.New([]codec.Key{next})
	require.NoError(t, err)
	_, err = retired.Decode(sealedOld)
	require.ErrorContains(t, err, `key "2025"`)
}

func TestDecodePassesUnencryptedPayloadsThrough(t *testing.T) {
	c, err := codec.New([]codec.Key{key(t, "k1")})
	require.NoError(t, err)
	plain, err := converter.GetDefaultDataConverter().ToPayload(patient{MRN: "MRN-OLD"})
	require.NoError(t, err)
	got, err := c.Decode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	assert.Same(t, plain, got[0])
}

func TestTamperingIsDetected(t *testing.T) {
	k1, k2 := key(t, "k1"), key(t, "k2")
	c, err := codec.New([]codec.Key{k1, k2})
	require.NoError(t, err)
	sealed, err := c.Encode([]*commonpb.Payload{{Data: []byte("hello")}})
	require.NoError(t, err)

	flipped := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: bytes.Clone(sealed[0].Data)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	_, err = c.Decode([]*commonpb.Payload{flipped})
	assert.ErrorContains(t, err, "does not open")

	relabelled := &commonpb.Payload{Metadata: map[string][]byte{
		codec.MetadataEncoding: []byte(codec.EncodingEncrypted), codec.MetadataKeyID: []byte("k1"),
	}, Data: sealed[0].Data}
	_, err = c.Decode([]*commonpb.Payload{relabelled})
	assert.ErrorContains(t, err, "does not open", "the key id is authenticated")

	short := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: []byte{1, 2, 3}}
	_, err = c.Decode([]*commonpb.Payload{short})
	assert.ErrorContains(t, err, "too short")
}

func TestParseKeys(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 32)
	std := base64.StdEncoding.EncodeToString(raw)
	url := base64.RawURLEncoding.EncodeToString(raw)

	keys, err := codec.ParseKeys(" a:" + std + " , b.2:" + url + ",")
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, "a", keys[0].ID)
	assert.Equal(t, "b.2", keys[1].ID)
	assert.Equal(t, raw, keys[1].Secret)

	again, err := codec.ParseKeys(codec.FormatKeys(keys))
	require.NoError(t, err)
	assert.Equal(t, keys, again)

	none, err := codec.ParseKeys("")
	require.NoError(t, err)
	assert.Empty(t, none)

	for spec, want := range map[string]string{
		"nocolon":                      "want id:base64key",
		"bad id!:" + std:               "must be 1 to 64",
		"a:" + std + ",a:" + std:       "appears twice",
		"a:***":                        "not base64",
		"a:" + std[:20]:                "AES-256 needs 32",
		":" + std:                      "must be 1 to 64",
		"a:" + strings.Repeat("A", 64): "AES-256 needs 32",
	} {
		_, err := codec.ParseKeys(spec)
		assert.ErrorContains(t, err, want, spec)
	}
	_, err = codec.New(nil)
	assert.Error(t, err)
}

// TestReplayCommittedHistoriesWithCodec proves that turning encryption on does not break runs
// recorded before it: the committed (unencrypted) histories replay with the codec installed.
func TestReplayCommittedHistoriesWithCodec(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "workflows", "testdata", "histories", "*.json"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skip("no committed histories")
	}
	dc, err := codec.DataConverter([]codec.Key{key(t, "k1")})
	require.NoError(t, err)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc})
			require.NoError(t, err)
			workflows.Register(replayer)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}
