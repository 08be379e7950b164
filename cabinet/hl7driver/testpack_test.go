package hl7driver_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test pack (cabinet/hl7/testpack, README.md there) is the set of messages and the
// answers they must get that an interface team replays on its engine. The tests here replay
// it over real TCP: every inbound message to the report listener, every outbound command
// from the driver to a scripted cabinet. UPDATE_TESTPACK=1 rewrites what the code writes
// (the listener's acknowledgments, the driver's messages, the scripted cabinet's answers);
// the inbound messages are written by hand, as cabinets send them.

// packDir is the test pack.
const packDir = "../hl7/testpack"

// packCase is one case of cases.json.
type packCase struct {
	Name string `json:"name"`
	What string `json:"what"`
	// Ack and Condition are what an inbound message is answered: MSA-1 and ERR-3 ("" when
	// it is not answered, or accepted).
	Ack       string   `json:"ack,omitempty"`
	Condition string   `json:"condition,omitempty"`
	Flags     []string `json:"flags,omitempty"`
	// Handler is how the system fares with an inbound report: "" it keeps it, "not_now" it
	// cannot now (its database is down).
	Handler string `json:"handler,omitempty"`
	// Outcome is what a command comes to: accepted, refused, or retry.
	Outcome string `json:"outcome,omitempty"`
}

type packManifest struct {
	Inbound  []packCase `json:"inbound"`
	Outbound []packCase `json:"outbound"`
}

var updatePack = os.Getenv("UPDATE_TESTPACK") != ""

// readManifest reads cases.json and checks that every file of the pack belongs to a case.
func readManifest(t *testing.T) packManifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(packDir, "cases.json"))
	require.NoError(t, err)
	var m packManifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&m))
	for dir, cases := range map[string][]packCase{"inbound": m.Inbound, "outbound": m.Outbound} {
		files, err := filepath.Glob(filepath.Join(packDir, dir, "*.hl7"))
		require.NoError(t, err)
		for _, f := range files {
			base := filepath.Base(f)
			for _, suffix := range []string{".ack.hl7", ".answer.hl7", ".hl7"} {
				if name, ok := bytes.CutSuffix([]byte(base), []byte(suffix)); ok {
					base = string(name)
					break
				}
			}
			assert.True(t, slices.ContainsFunc(cases, func(c packCase) bool { return c.Name == base }),
				"%s/%s belongs to no case of cases.json", dir, filepath.Base(f))
		}
	}
	return m
}

// readMessages reads a pack file: messages separated by an empty line, segments one per line
// (LF, as the files are written for people); it returns them with CR after each segment,
// as they go on the wire.
func readMessages(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var out [][]byte
	for _, block := range bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n\n")) {
		out = append(out, append(bytes.ReplaceAll(block, []byte("\n"), []byte("\r")), '\r'))
	}
	return out
}

// checkMessages compares messages with a pack file, or writes them there under
// UPDATE_TESTPACK.
func checkMessages(t *testing.T, path string, msgs [][]byte) {
	t.Helper()
	var b bytes.Buffer
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(bytes.ReplaceAll(bytes.TrimRight(m, "\r"), []byte("\r"), []byte("\n")))
		b.WriteByte('\n')
	}
	if updatePack {
		require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "UPDATE_TESTPACK=1 go test -run TestPack ./cabinet/hl7driver/ writes it")
	assert.Equal(t, string(want), b.String(), "%s differs: UPDATE_TESTPACK=1 rewrites it", path)
}

// packZone is the hospital's zone of the pack: every time the system writes is in it.
var packZone = time.FixedZone("-03", -3*3600)
