package devstack

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWebUISaysPayloadsAreEncrypted starts the dev Web UI with a codec endpoint: its settings
// carry the message it shows, instead of "Codec Server could not connect", until the codec
// session is opened.
func TestWebUISaysPayloadsAreEncrypted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ui, err := startWebUI(addr, "127.0.0.1:1", "default", "http://127.0.0.1:8080/codec")
	require.NoError(t, err)
	t.Cleanup(ui.Stop)
	resp, err := http.Get(ui.url + "/api/v1/settings")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "Payloads are encrypted: to read them, open once the link")
}
