package faultsuite

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"
)

// balancer is the load balancer in front of several api replicas, as a hospital's ingress
// would be: requests go round-robin, and one whose replica refuses the connection (a killed
// process) goes to the next, since nothing of it was sent. A request cut after it was sent
// fails, and the client retries it, as clients behind a real balancer do.
type balancer struct {
	srv  *http.Server
	ln   net.Listener
	next atomic.Uint64
	// backends are host:port of the replicas.
	backends []string
}

func newBalancer(backends []string) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{ln: ln, backends: backends}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: backends[0]})
			r.Out.Host = r.In.Host
		},
		Transport:     b,
		FlushInterval: -1,
	}
	b.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Addr is the balancer's host:port.
func (b *balancer) Addr() string { return b.ln.Addr().String() }

// RoundTrip sends r to the replicas in turn, starting with the next one round-robin, until
// one accepts the connection.
func (b *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	start := int(b.next.Add(1))
	var err error
	for i := range b.backends {
		out := r.Clone(r.Context())
		out.URL.Host = b.backends[(start+i)%len(b.backends)]
		var resp *http.Response
		resp, err = http.DefaultTransport.RoundTrip(out)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			return resp, err
		}
	}
	return nil, err
}

func (b *balancer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.srv.Shutdown(ctx)
}
