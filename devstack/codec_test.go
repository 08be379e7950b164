package devstack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDevCodecKeysAreKept(t *testing.T) {
	dir := t.TempDir()
	first, err := codecKeys(dir)
	require.NoError(t, err)
	require.Len(t, first, 1)
	again, err := codecKeys(dir)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a restart decrypts what the last run wrote")
	info, err := os.Stat(filepath.Join(dir, "codec-keys"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	assert.Equal(t, "http://127.0.0.1:8080/codec", uiCodecEndpoint("127.0.0.1:8233", "[::]:8080"))
	assert.Equal(t, "http://localhost:9000/codec", uiCodecEndpoint("0.0.0.0:8233", "127.0.0.1:9000"))
	assert.Equal(t, []string{"http://127.0.0.1:8233", "http://localhost:8233"}, browserOrigins("http://127.0.0.1:8233"))
}
