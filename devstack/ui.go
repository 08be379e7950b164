package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/medreq/pyxis/service"
)

// webUI is the Temporal Web UI, served from this process with the assets embedded in the
// ui-server module.
type webUI struct {
	server *uiserver.Server
	url    string
}

type staticUIConfig struct{ cfg *uiconfig.Config }

// GetConfig returns the one configuration.
func (s staticUIConfig) GetConfig() (*uiconfig.Config, error) { return s.cfg, nil }

// startWebUI serves the Web UI on addr. A non-empty codecEndpoint is the codec server the UI
// decodes payloads with (the API's /codec).
func startWebUI(addr, temporalAddr, namespace, codecEndpoint string) (*webUI, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_UI_ADDR=%q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_UI_ADDR=%q: bad port", addr)
	}
	// ui-server exits the process when it cannot bind, so check the port ourselves first.
	ln, err := service.Listen(addr, "PYXIS_DEV_UI_ADDR or --ui-addr")
	if err != nil {
		return nil, err
	}
	_ = ln.Close()
	srv := uiserver.NewServer(server_options.WithConfigProvider(staticUIConfig{&uiconfig.Config{
		TemporalGRPCAddress: temporalAddr,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		HideLogs:            true,
		DisableNewsFetch:    true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		// Dev mode serves plain HTTP, and the UI passes its access token only to an https
		// codec endpoint; it has no sign-in here anyway (docs/security.md).
		// The UI sends the codec-session cookie (api Config.CodecSession) with its calls.
		Codec: uiconfig.Codec{Endpoint: codecEndpoint, PassAccessToken: false, IncludeCredentials: codecEndpoint != "", DefaultErrorMessage: codecHint(codecEndpoint)},
	}}))
	go func() {
		if err := srv.Start(); err != nil {
			slog.Error("temporal web ui", "error", err)
		}
	}()
	ui := &webUI{server: srv, url: "http://" + displayAddr(addr)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if ok, _ := service.HTTPOK(ctx, ui.url+"/healthz"); ok {
			return ui, nil
		}
		select {
		case <-ctx.Done():
			srv.Stop()
			return nil, fmt.Errorf("temporal web ui did not start on %s", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// codecHint is what the UI shows, in place of "Codec Server could not connect", while its
// codec session is not open: the codec answers 401 until the banner's link is opened.
func codecHint(codecEndpoint string) string {
	if codecEndpoint == "" {
		return ""
	}
	return "Payloads are encrypted: to read them, open once the link dev mode printed under the Web UI's address"
}

// Stop stops the UI server.
func (u *webUI) Stop() { u.server.Stop() }
