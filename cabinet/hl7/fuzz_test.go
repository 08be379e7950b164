package hl7

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse checks that Parse never panics, fails only with a *ParseError, and that what it
// reads encodes to bytes it reads back the same; the decoders must not panic on whatever
// parses. The seed corpus is under testdata/fuzz/FuzzParse, with the messages of the test
// pack (testpack/), and runs with every `go test`.
func FuzzParse(f *testing.F) {
	f.Add([]byte("MSH|^~\\&|A|B|C|D|20260101120000||ACK^O11^ACK|1|P|2.5\rMSA|AA|1\r"))
	for _, raw := range testPack(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseHeader(data)
		_ = Reject(data, "fuzz", ConditionSegmentSequence, fixedNow)
		m, err := Parse(data)
		if err != nil {
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "untyped error %v", err)
			return
		}
		out, err := m.Encode()
		if errors.Is(err, ErrTooLarge) {
			return // escaping can grow a message past the limit
		}
		require.NoError(t, err)
		again, err := Parse(out)
		require.NoError(t, err, "re-parse of %q", out)
		require.Equal(t, m, again)
		out2, err := again.Encode()
		require.NoError(t, err)
		require.True(t, bytes.Equal(out, out2), "encoding is not stable:\n%q\n%q", out, out2)

		_ = m.Header()
		_, _ = DecodeRDE(m, nil)
		_, _ = DecodeACK(m)
		_ = TranscodeRaw(data)
		_, _ = DecodeEvent(m, nil)
		_, _ = DecodeMFN(m, nil)
		_ = ConditionOf(err)
	})
}
