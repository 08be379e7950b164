package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/intake"
)

// NewHTTPServer is the API's HTTP server: bounded reads and writes, keep-alive.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

// serveAPI serves the API on ln, cabinet reports on mllpSrv and applies the inbox until ctx
// ends (SIGTERM, SIGINT) or a server fails, then stops gracefully, in this order:
//
//  1. /readyz answers 503 and keep-alive ends (load balancers stop sending), while requests
//     are still served for o.ShutdownDelay;
//  2. the HTTP server stops accepting and the requests in flight complete;
//  3. the MLLP listener stops accepting, closes idle connections and lets the frames in
//     flight finish: each is stored in the inbox and acknowledged;
//  4. the inbox applier stops (a report it was applying stays pending and is applied,
//     once, by the next applier);
//  5. the caller then closes the Temporal client and the pool.
//
// Steps 2 and 3 share o.ShutdownTimeout; what is still running then is cut off (and the
// error says so).
func serveAPI(ctx context.Context, o ObsConfig, ln net.Listener, apiSrv *api.Server, mllpSrv *mllp.Server, in *intake.Intake) error {
	httpSrv := NewHTTPServer(apiSrv.Handler())
	failed := make(chan error, 2)
	go func() {
		if err := httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	go func() {
		if err := mllpSrv.Serve(context.Background()); err != nil {
			failed <- fmt.Errorf("mllp server: %w", err)
		}
	}()
	applierCtx, stopApplier := context.WithCancel(context.Background())
	defer stopApplier()
	applierDone := make(chan struct{})
	go func() {
		defer close(applierDone)
		// Reports the listener accepted are applied by one api replica at a time.
		_ = in.Run(applierCtx)
	}()
	slog.Info("api listening", "addr", ln.Addr().String())

	var cause error
	select {
	case <-ctx.Done():
	case cause = <-failed:
		slog.Error("api failed; shutting down", "error", cause)
	}
	apiSrv.Drain()
	httpSrv.SetKeepAlivesEnabled(false)
	slog.Info("api shutting down: /readyz answers 503", "delay", o.ShutdownDelay, "timeout", o.ShutdownTimeout)
	if cause == nil && o.ShutdownDelay > 0 {
		time.Sleep(o.ShutdownDelay)
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := httpSrv.Shutdown(sctx); err != nil {
		_ = httpSrv.Close()
		errs = append(errs, fmt.Errorf("http requests still in flight after %s: %w", o.ShutdownTimeout, err))
	}
	slog.Info("http server stopped", "after", time.Since(start).Round(time.Millisecond))
	if err := mllpSrv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("mllp frames still in flight after %s: %w", o.ShutdownTimeout, err))
	}
	slog.Info("mllp listener stopped", "after", time.Since(start).Round(time.Millisecond))
	stopApplier()
	<-applierDone
	slog.Info("inbox applier stopped", "after", time.Since(start).Round(time.Millisecond))
	return errors.Join(append([]error{cause}, errs...)...)
}
