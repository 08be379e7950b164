package devstack

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medreq/pyxis/codec"
)

// codecKeys returns the key dev mode encrypts payloads with: kept in the data folder
// beside the dev secret, so workflows survive a restart, and made on first use.
func codecKeys(dir string) ([]codec.Key, error) {
	path := filepath.Join(dir, "codec-keys")
	if b, err := os.ReadFile(path); err == nil {
		keys, err := codec.ParseKeys(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(keys) > 0 {
			return keys, nil
		}
	}
	key, err := codec.GenerateKey("dev-" + time.Now().UTC().Format("20060102"))
	if err != nil {
		return nil, err
	}
	keys := []codec.Key{key}
	if err := os.WriteFile(path, []byte(codec.FormatKeys(keys)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("save dev codec key: %w", err)
	}
	return keys, nil
}

// uiCodecEndpoint is the API's codec endpoint as the dev UI's pages reach it: on the host the
// UI is opened at, so the two are the same site, and on the API's port.
func uiCodecEndpoint(uiAddr, apiAddr string) string {
	host, _, err := net.SplitHostPort(uiAddr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	_, port, err := net.SplitHostPort(apiAddr)
	if err != nil {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port) + "/codec"
}

// browserOrigins is the origin of a local URL as a browser may name it: by the address it was
// given and by its other loopback name.
func browserOrigins(rawURL string) []string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil
	}
	origins := []string{u.Scheme + "://" + u.Host}
	switch u.Hostname() {
	case "127.0.0.1":
		origins = append(origins, u.Scheme+"://"+net.JoinHostPort("localhost", u.Port()))
	case "localhost":
		origins = append(origins, u.Scheme+"://"+net.JoinHostPort("127.0.0.1", u.Port()))
	}
	return origins
}
