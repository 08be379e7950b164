package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// residentBytes is the process's resident memory (Linux).
func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(b))
	require.GreaterOrEqual(t, len(f), 2)
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return pages * int64(os.Getpagesize())
}

// vendOne has the cabinet report a vend of one of its medication: nil once answered AA.
func (c *apiClient) vendOne(cab hl7Cabinet) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	one := int32(1)
	_, err := cab.sim.Override(ctx, cab.cabinetCode, "", []cabsim.VendLine{{MedicationCode: c.medicationCode(cab.fixture, cab.meds[0]), Amount: &one}})
	return err
}

// Twenty frames of 1 MiB in a row, each on its own connection as a stranger would send them,
// are refused unread: the process's resident memory stays within 64 MiB of where it was, and a
// genuine report right after is answered AA.
func TestHugeFramesAreRefusedUnread(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 0, 4)
	// The frames come from 127.0.0.2, an address the cabinet lists (so they pass the peer
	// check and are read), the genuine report from the cabinet's own 127.0.0.1: the sender of
	// the frames is refused for the minute, the cabinet is not.
	status, body := c.do("PUT", fmt.Sprintf("/v1/cabinets/%d/report-sources", cab.cabinetID), c.token("admin-1", pyxis.RoleAdmin),
		map[string]any{"report_sources": []string{"127.0.0.1/32", "127.0.0.2/32"}})
	require.Equal(t, http.StatusOK, status, body)
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 2 * time.Second}
	// Just under 1 MiB, the old frame limit: a well-formed message the listener would once
	// have parsed whole.
	head := []byte(`MSH|^~\&|PYX-ICU-01||PYXIS-MEDREQ||20260314093512+0000||RDS^O13^RDS_O13|big|P|2.5` + "\rNTE|1||")
	msg := append(head, bytes.Repeat([]byte("x"), 1<<20-len(head)-1)...)
	frame := mllp.AppendFrame(nil, append(msg, '\r'))
	before := residentBytes(t)
	for range 20 {
		nc, err := dialer.Dial("tcp", cab.listener)
		require.NoError(t, err)
		require.NoError(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
		_, _ = nc.Write(frame) // the listener may close before it has all of it
		got, err := mllp.NewReader(nc, 0).ReadFrame()
		assert.Error(t, err, "answered %q", got)
		nc.Close()
	}
	grown := residentBytes(t) - before
	t.Logf("resident memory grew by %d KiB over 20 frames of 1 MiB", grown>>10)
	assert.Less(t, grown, int64(64<<20))
	require.NoError(t, c.vendOne(cab), "a genuine report right after is answered AA")
}

// 64 connections that say nothing cannot keep a genuine cabinet out for longer than the
// first-frame timeout.
func TestSilentConnectionsCannotKeepACabinetOut(t *testing.T) {
	c := newAPI(t, testConfig())
	cfg := listenerConfig(t)
	cfg.HL7.FirstFrameTimeout = 2 * time.Second
	cab := c.hl7CabinetOn(cfg, cabsim.FormatRDS, 0, 4)
	for range 64 {
		nc, err := net.DialTimeout("tcp", cab.listener, 2*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
	}
	start := time.Now()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.NoError(ct, c.vendOne(cab))
	}, 10*time.Second, 100*time.Millisecond)
	assert.Less(t, time.Since(start), cfg.HL7.FirstFrameTimeout+3*time.Second)
}

// A connection whose first byte is not a start block, such as an HTTP request a browser page
// makes to a listener on loopback, is closed without an answer.
func TestHTTPToTheListenerGetsNoAnswer(t *testing.T) {
	c := newAPI(t, testConfig())
	cab := c.hl7Cabinet(cabsim.FormatRDS, 0, 4)
	nc, err := net.DialTimeout("tcp", cab.listener, 2*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = nc.Write([]byte("POST /report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n\x0bMSH|\x1c\r"))
	require.NoError(t, err)
	var buf [64]byte
	n, err := nc.Read(buf[:])
	assert.Error(t, err)
	assert.Zero(t, n, "answered %q", buf[:n])
}
