package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// JWKS refresh bounds. The cache refreshes in the background between these intervals (within
// them, as the provider's Cache-Control says); an unknown kid forces a refresh at most once
// per Config.JWKSRefreshInterval.
const (
	jwksMinInterval = 5 * time.Minute
	jwksMaxInterval = time.Hour
	// jwksReadyTimeout bounds how long a request waits for the first fetch of the JWKS.
	jwksReadyTimeout = 5 * time.Second
)

// jwksKeys are the identity provider's public keys, fetched from its JWKS URL and cached by
// jwx's jwk.Cache. A token naming a kid the cache does not hold makes it fetch the set anew
// (the provider rotated its keys), but at most once per minRefresh, so a flood of tokens with
// made-up kids cannot turn into a flood of requests to the provider.
type jwksKeys struct {
	url        string
	cache      *jwk.Cache
	minRefresh time.Duration
	stop       context.CancelFunc

	mu          sync.Mutex // serializes forced refreshes
	lastRefresh time.Time
}

// newJWKSKeys starts the cache and registers url without waiting for the first fetch, so the
// API starts even while the provider is briefly unreachable.
func newJWKSKeys(url string, minRefresh time.Duration) (*jwksKeys, error) {
	ctx, stop := context.WithCancel(context.Background())
	cache, err := jwk.NewCache(ctx, httprc.NewClient())
	if err != nil {
		stop()
		return nil, fmt.Errorf("jwks cache: %w", err)
	}
	err = cache.Register(ctx, url,
		jwk.WithWaitReady(false),
		jwk.WithMinInterval(jwksMinInterval),
		jwk.WithMaxInterval(jwksMaxInterval),
		jwk.WithIgnoreParseError(true), // a key of a type we do not use must not hide the others
	)
	if err != nil {
		stop()
		return nil, fmt.Errorf("jwks %s: %w", url, err)
	}
	return &jwksKeys{url: url, cache: cache, minRefresh: minRefresh, stop: stop, lastRefresh: time.Now()}, nil
}

// close stops the cache's goroutines.
func (k *jwksKeys) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = k.cache.Shutdown(ctx)
	k.stop()
}

var errUnknownKey = errors.New("unknown key id")

// lookup returns the raw public key named kid, for a token signed with alg.
func (k *jwksKeys) lookup(ctx context.Context, kid, alg string) (any, error) {
	if key, ok := k.find(ctx, kid, alg); ok {
		return key, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// Another request may have refreshed the set while this one waited.
	if key, ok := k.find(ctx, kid, alg); ok {
		return key, nil
	}
	if time.Since(k.lastRefresh) < k.minRefresh {
		return nil, errUnknownKey
	}
	k.lastRefresh = time.Now()
	if _, err := k.cache.Refresh(ctx, k.url); err != nil {
		return nil, fmt.Errorf("refresh jwks: %w", err)
	}
	if key, ok := k.find(ctx, kid, alg); ok {
		return key, nil
	}
	return nil, errUnknownKey
}

// find looks kid up in the cached set, waiting a little for the first fetch. A key that
// declares another use than signing, or another algorithm than alg, is not returned.
func (k *jwksKeys) find(ctx context.Context, kid, alg string) (any, bool) {
	r, err := k.cache.LookupResource(ctx, k.url)
	if err != nil {
		return nil, false
	}
	readyCtx, cancel := context.WithTimeout(ctx, jwksReadyTimeout)
	defer cancel()
	if r.Ready(readyCtx) != nil {
		return nil, false
	}
	set := r.Resource()
	if set == nil {
		return nil, false
	}
	key, ok := set.LookupKeyID(kid)
	if !ok {
		return nil, false
	}
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return nil, false
	}
	if a, ok := key.Algorithm(); ok && a.String() != alg {
		return nil, false
	}
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, false
	}
	return raw, true
}

// CheckJWKSURL refuses a JWKS URL the keys that verify tokens must not come from: anything
// but https, except plain http to a loopback host (127.0.0.0/8, ::1, localhost), where no one
// on the network can answer in the provider's place.
func CheckJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%q is not a URL such as https://idp.example/realms/hospital/protocol/openid-connect/certs", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q: the keys that verify tokens must be fetched over https; plain http is allowed only to a loopback host (127.0.0.0/8, ::1, localhost)", raw)
	}
	return fmt.Errorf("%q: want an https URL", raw)
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
