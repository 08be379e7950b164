package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/medreq/pyxis/workflows"
)

// historiesDir holds JSON histories of real runs (temporal workflow show --output json).
const historiesDir = "testdata/histories"

// TestReplayHistories proves that the current workflow code still replays every committed
// history without a non-determinism error: the runs of v0.1.0, and of every release since
// (testdata/histories/README.md).
func TestReplayHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no histories under %s: a release's histories are never removed", historiesDir)

	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			info, err := os.Stat(file)
			require.NoError(t, err)
			require.NotZero(t, info.Size(), "empty history file")

			replayer := worker.NewWorkflowReplayer()
			workflows.Register(replayer)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}
