package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// selfSigned writes a certificate and its key as PEM files and returns their paths.
func selfSigned(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pyxis-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certPath, keyPath
}

// The Temporal connection is the CLI's environment configuration: mutual TLS and an API key
// come from the TEMPORAL_* variables, and certificates that do not load stop the start.
func TestTemporalConnectionConfig(t *testing.T) {
	base := []string{"TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"), "DATABASE_URL", "postgres://u:p@h/db"}
	cfg, err := LoadConfig(envOf(append(base, "TEMPORAL_ADDRESS", "temporal:7233")...))
	require.NoError(t, err)
	assert.Equal(t, "temporal:7233", cfg.TemporalAddress)
	assert.Equal(t, "default", cfg.TemporalNamespace)
	opts, err := cfg.temporalOptions()
	require.NoError(t, err)
	assert.Nil(t, opts.ConnectionOptions.TLS, "plaintext unless asked")
	assert.Contains(t, cfg.String(), "temporal_tls=off")

	cert, key := selfSigned(t)
	cfg, err = LoadConfig(envOf(append(base, "TEMPORAL_ADDRESS", "temporal:7233", "TEMPORAL_NAMESPACE", "pyxis-prod",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH", cert, "TEMPORAL_TLS_SERVER_NAME", "temporal.internal",
		"TEMPORAL_TLS_CLIENT_CERT_PATH", cert, "TEMPORAL_TLS_CLIENT_KEY_PATH", key, "TEMPORAL_API_KEY", "secret-api-key")...))
	require.NoError(t, err)
	assert.Equal(t, "pyxis-prod", cfg.TemporalNamespace)
	opts, err = cfg.temporalOptions()
	require.NoError(t, err)
	require.NotNil(t, opts.ConnectionOptions.TLS)
	assert.Equal(t, "temporal.internal", opts.ConnectionOptions.TLS.ServerName)
	assert.Len(t, opts.ConnectionOptions.TLS.Certificates, 1, "the client certificate")
	assert.NotNil(t, opts.ConnectionOptions.TLS.RootCAs)
	assert.NotNil(t, opts.Credentials, "the API key")
	assert.Contains(t, cfg.String(), "temporal_tls=mutual")
	assert.NotContains(t, cfg.String(), "secret-api-key")

	_, err = LoadConfig(envOf(append(base, "TEMPORAL_ADDRESS", "temporal:7233", "TEMPORAL_TLS_CLIENT_CERT_PATH", cert)...))
	assert.ErrorContains(t, err, "TEMPORAL_TLS", "a certificate without its key")
	_, err = LoadConfig(envOf(append(base, "TEMPORAL_ADDRESS", "temporal:7233", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", filepath.Join(t.TempDir(), "missing.pem"))...))
	assert.ErrorContains(t, err, "TEMPORAL_TLS")
}
