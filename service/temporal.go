package service

import (
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// loadTemporal reads how to reach Temporal the way the Temporal CLI does, with the SDK's own
// environment configuration: a profile (TEMPORAL_PROFILE) of the config file
// (TEMPORAL_CONFIG_FILE, or the CLI's default path) if there is one, overridden by
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
// TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
// TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME (and their _DATA forms),
// TEMPORAL_GRPC_META_* and TEMPORAL_CLIENT_AUTHORITY. So TLS, mutual TLS and an API key take
// no setting of this system's own, and a profile that works for `temporal` works here.
func loadTemporal(getenv func(string) string, c *Config) []error {
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{EnvLookup: envLookup(getenv)})
	if err != nil {
		return []error{fmt.Errorf("Temporal client configuration (TEMPORAL_*): %w", err)}
	}
	// A payload codec named by the profile is the CLI's business: the system's own codec
	// (PYXIS_CODEC_KEYS) encrypts, and a remote one would see plaintext.
	prof.Codec = nil
	c.TemporalConn = prof
	c.TemporalAddress = prof.Address
	c.TemporalNamespace = prof.Namespace
	if c.TemporalNamespace == "" {
		c.TemporalNamespace = "default"
	}
	// Certificates that do not load are reported now, not at the first dial.
	if _, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{}); err != nil {
		return []error{fmt.Errorf("Temporal client configuration (TEMPORAL_TLS_*): %w", err)}
	}
	return nil
}

// temporalOptions are the client options of the profile: address, namespace, TLS, API key,
// gRPC metadata and authority; DialTemporal adds the rest.
func (c Config) temporalOptions() (client.Options, error) {
	opts, err := c.TemporalConn.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, err
	}
	// Dev mode starts its own server and sets the address after loading.
	opts.HostPort, opts.Namespace = c.TemporalAddress, c.TemporalNamespace
	return opts, nil
}

// temporalString describes the connection without its secrets.
func (c Config) temporalString() string {
	p := c.TemporalConn
	tls := "off"
	switch {
	case p.TLS != nil && p.TLS.Disabled:
	case p.TLS != nil && (len(p.TLS.ClientCertData) > 0 || p.TLS.ClientCertPath != ""):
		tls = "mutual"
	case p.TLS != nil || p.APIKey != "":
		tls = "on"
	}
	apiKey := "(unset)"
	if p.APIKey != "" {
		apiKey = "(set)"
	}
	return fmt.Sprintf("temporal_tls=%s temporal_api_key=%s", tls, apiKey)
}

// envLookup gives envconfig the process's environment as getenv sees it: tests pass their own.
type envLookup func(string) string

func (e envLookup) LookupEnv(key string) (string, bool) {
	v := e(key)
	return v, v != ""
}

// Environ lists the TEMPORAL_GRPC_META_* variables, the only ones envconfig enumerates.
func (e envLookup) Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_GRPC_META_") {
			if v := e(k); v != "" {
				out = append(out, k+"="+v)
			}
		}
	}
	return out
}
