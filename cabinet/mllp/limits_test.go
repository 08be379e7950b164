package mllp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEndBlockWithoutCREndsTheFrameAtOnce(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := NewReader(server, 0)
	go func() { _, _ = client.Write([]byte("\x0bMSH|one\x1c")) }() // no CR, and the line stays open
	got := make(chan string, 1)
	go func() {
		msg, _ := r.ReadFrame()
		got <- string(msg)
	}()
	select {
	case msg := <-got:
		assert.Equal(t, "MSH|one", msg)
	case <-time.After(2 * time.Second):
		t.Fatal("the reader waited for a CR after the end block")
	}
	go func() { _, _ = client.Write([]byte("\r\x0btwo\x1c\r")) }()
	msg, err := r.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, "two", string(msg), "the late CR is skipped before the next frame")
}

// dialFrom connects to addr from a given loopback address.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	nc, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return nc
}

// served reports whether the server answers a frame on nc.
func served(t *testing.T, nc net.Conn) bool {
	t.Helper()
	require.NoError(t, nc.SetDeadline(time.Now().Add(2*time.Second)))
	if err := WriteFrame(nc, []byte("ping")); err != nil {
		return false
	}
	msg, err := NewReader(nc, 0).ReadFrame()
	return err == nil && string(msg) == "ACK:ping"
}

func TestServerCapsConnections(t *testing.T) {
	_, addr := startServer(t, echo, ServerOptions{MaxConns: 2, MaxConnsPerPeer: 1})
	a := dialFrom(t, "127.0.0.1", addr)
	require.True(t, served(t, a))
	assert.False(t, served(t, dialFrom(t, "127.0.0.1", addr)), "a second connection from the same peer is closed")
	b := dialFrom(t, "127.0.0.2", addr)
	require.True(t, served(t, b), "another peer is served")
	assert.False(t, served(t, dialFrom(t, "127.0.0.3", addr)), "a third connection in all is closed")
	a.Close()
	require.Eventually(t, func() bool {
		return served(t, dialFrom(t, "127.0.0.1", addr))
	}, 2*time.Second, 20*time.Millisecond, "a freed place is taken again")
}

func TestServerBoundsAFrameInTime(t *testing.T) {
	_, addr := startServer(t, echo, ServerOptions{FrameTimeout: 200 * time.Millisecond})
	nc, r := dialRaw(t, addr)
	start := time.Now()
	_, err := nc.Write([]byte("\x0bMSH|slow"))
	require.NoError(t, err)
	_, err = r.ReadFrame()
	require.Error(t, err, "the server closes a frame that does not end")
	assert.Less(t, time.Since(start), 2*time.Second)

	// Silence between frames is bounded by the idle timeout, not the frame timeout: a frame
	// begun after nc2 connected is cut at the frame timeout, and nc2, silent all along, is
	// still served then.
	nc2, _ := dialRaw(t, addr)
	nc3, r3 := dialRaw(t, addr)
	_, err = nc3.Write([]byte("\x0bMSH|slow"))
	require.NoError(t, err)
	_, err = r3.ReadFrame()
	require.Error(t, err, "the later frame was cut")
	assert.True(t, served(t, nc2))
}

func TestHandlerLearnsThePeer(t *testing.T) {
	peers := make(chan Peer, 1)
	h := func(ctx context.Context, msg []byte) []byte {
		p, ok := PeerFromContext(ctx)
		require.True(t, ok)
		peers <- p
		return echo(ctx, msg)
	}
	_, addr := startServer(t, h, ServerOptions{})
	nc := dialFrom(t, "127.0.0.5", addr)
	require.True(t, served(t, nc))
	p := <-peers
	assert.Equal(t, nc.LocalAddr().String(), p.Addr.String())
	assert.Equal(t, "", p.CommonName)
}

// pki is a CA with the certificates it issued, written as PEM files.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &pki{dir: t.TempDir(), caCert: cert, caKey: key}
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// issue writes a certificate and key for cn (a server one for 127.0.0.1 when server) and
// returns their paths.
func (p *pki) issue(t *testing.T, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func (p *pki) clientTLS(t *testing.T, serverCA *pki, cn string) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.caCert)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cn != "" {
		certFile, keyFile := p.issue(t, cn, false)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func TestServerTLSWithClientCertificates(t *testing.T) {
	hospital := newPKI(t, "hospital CA")
	stranger := newPKI(t, "another CA")
	certFile, keyFile := hospital.issue(t, "pyxis-medreq", true)
	cfg, err := ServerTLSConfig(certFile, keyFile, filepath.Join(hospital.dir, "ca.pem"))
	require.NoError(t, err)
	peers := make(chan Peer, 4)
	h := func(ctx context.Context, msg []byte) []byte {
		p, _ := PeerFromContext(ctx)
		peers <- p
		return echo(ctx, msg)
	}
	_, addr := startServer(t, h, ServerOptions{TLS: cfg, FrameTimeout: 2 * time.Second})

	good := NewClient(addr, ClientOptions{TLS: hospital.clientTLS(t, hospital, "PYX-ICU-01"), DialAttempts: 1})
	defer good.Close()
	ack, err := good.Send(context.Background(), []byte("MSH|tls"))
	require.NoError(t, err)
	assert.Equal(t, "ACK:MSH|tls", string(ack))
	assert.Equal(t, "PYX-ICU-01", (<-peers).CommonName, "the verified certificate's common name reaches the handler")

	for name, tc := range map[string]*tls.Config{
		"a client certificate of another CA": stranger.clientTLS(t, hospital, "PYX-ICU-01"),
		"no client certificate":              hospital.clientTLS(t, hospital, ""),
	} {
		t.Run(name, func(t *testing.T) {
			c := NewClient(addr, ClientOptions{TLS: tc, DialAttempts: 1, AckTimeout: time.Second})
			defer c.Close()
			_, err := c.Send(context.Background(), []byte("MSH|tls"))
			assert.Error(t, err, "refused")
		})
	}
	plain := NewClient(addr, ClientOptions{DialAttempts: 1, AckTimeout: 500 * time.Millisecond})
	defer plain.Close()
	_, err = plain.Send(context.Background(), []byte("MSH|plain"))
	assert.Error(t, err, "plain TCP is not served")
	assert.Len(t, peers, 0, "no refused client reached the handler")
}

func TestServerTLSConfigErrors(t *testing.T) {
	p := newPKI(t, "ca")
	certFile, keyFile := p.issue(t, "server", true)
	_, err := ServerTLSConfig(certFile, "/nonexistent.key", "")
	assert.Error(t, err)
	_, err = ServerTLSConfig(certFile, keyFile, "/nonexistent-ca.pem")
	assert.Error(t, err)
	_, err = ServerTLSConfig(certFile, keyFile, keyFile)
	assert.Error(t, err, "a key is not a CA certificate")
	cfg, err := ServerTLSConfig(certFile, keyFile, "")
	require.NoError(t, err)
	assert.Equal(t, tls.NoClientCert, cfg.ClientAuth, "no client CA: no client certificate asked")
}

// A client made with ClientTLSConfig verifies the server against its CA, and presents its
// certificate: a server of another CA is refused in the handshake.
func TestClientTLSConfigVerifiesTheServer(t *testing.T) {
	hospital := newPKI(t, "hospital CA")
	stranger := newPKI(t, "another CA")
	certFile, keyFile := hospital.issue(t, "pyxis-cabinet", true)
	srv, err := ServerTLSConfig(certFile, keyFile, filepath.Join(hospital.dir, "ca.pem"))
	require.NoError(t, err)
	_, addr := startServer(t, echo, ServerOptions{TLS: srv})
	clientCert, clientKey := hospital.issue(t, "pyxis-medreq", false)

	cfg, err := ClientTLSConfig(filepath.Join(hospital.dir, "ca.pem"), clientCert, clientKey)
	require.NoError(t, err)
	c := NewClient(addr, ClientOptions{TLS: cfg, DialAttempts: 1})
	defer c.Close()
	ack, err := c.Send(context.Background(), []byte("MSH|tls"))
	require.NoError(t, err)
	assert.Equal(t, "ACK:MSH|tls", string(ack))

	wrong, err := ClientTLSConfig(filepath.Join(stranger.dir, "ca.pem"), clientCert, clientKey)
	require.NoError(t, err)
	w := NewClient(addr, ClientOptions{TLS: wrong, DialAttempts: 1, AckTimeout: time.Second})
	defer w.Close()
	_, err = w.Send(context.Background(), []byte("MSH|tls"))
	assert.Error(t, err, "a server the CA did not certify")

	_, err = ClientTLSConfig("", "", "")
	assert.Error(t, err)
	_, err = ClientTLSConfig(filepath.Join(hospital.dir, "ca.pem"), clientCert, "")
	assert.Error(t, err)
}
