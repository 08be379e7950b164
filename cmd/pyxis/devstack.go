package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/medreq/pyxis/db/pgcluster"
)

// localPostgres is the server dev mode uses when DATABASE_URL is not set and one answers.
const localPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// devDB is the database dev mode runs on, and how to let go of it.
type devDB struct {
	url  string
	stop func()
}

// devPostgres finds a database: DATABASE_URL as given; else a "pyxis_dev" database on the
// server at 127.0.0.1:5432; else a private cluster made with initdb in the data folder, on a
// free port, stopped on exit. Ephemeral runs get a database of their own, dropped on exit.
func devPostgres(ctx context.Context, databaseURL string, o devOptions) (devDB, error) {
	if databaseURL != "" {
		return devDB{url: databaseURL, stop: func() {}}, nil
	}
	name := "pyxis_dev"
	if o.Ephemeral {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name = "pyxis_dev_" + hex.EncodeToString(b[:])
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	conn, err := pgx.Connect(pingCtx, localPostgres)
	cancel()
	if err == nil {
		defer conn.Close(ctx)
		url, err := ensureDatabase(ctx, conn, localPostgres, name)
		if err != nil {
			return devDB{}, err
		}
		stop := func() {}
		if o.Ephemeral {
			stop = func() { dropDatabase(localPostgres, name) }
		}
		slog.Info("using the PostgreSQL server at 127.0.0.1:5432", "database", name)
		return devDB{url: url, stop: stop}, nil
	}

	slog.Info("no PostgreSQL at 127.0.0.1:5432; starting a private one with initdb", "dir", filepath.Join(o.Dir, "postgres"))
	cl, err := pgcluster.Start(ctx, filepath.Join(o.Dir, "postgres"), 0)
	if err != nil {
		return devDB{}, fmt.Errorf("%w and none could be started (install the PostgreSQL server binaries or set DATABASE_URL): %w", errNoPostgres, err)
	}
	stop := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.Stop(stopCtx); err != nil {
			slog.Warn("postgres stop", "error", err)
		}
	}
	admin, err := pgx.Connect(ctx, cl.URL("postgres"))
	if err != nil {
		stop()
		return devDB{}, fmt.Errorf("connect to the private PostgreSQL: %w", err)
	}
	defer admin.Close(ctx)
	url, err := ensureDatabase(ctx, admin, cl.URL("postgres"), name)
	if err != nil {
		stop()
		return devDB{}, err
	}
	return devDB{url: url, stop: stop}, nil
}

// ensureDatabase creates the database if it is missing and returns its URL.
func ensureDatabase(ctx context.Context, admin *pgx.Conn, adminURL, name string) (string, error) {
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for database %s: %w", name, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), name), nil
}

func dropDatabase(adminURL, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		slog.Warn("drop ephemeral database", "database", name, "error", err)
	}
}

// devUI is the Temporal Web UI, served from this process with the assets embedded in the
// ui-server module.
type devUI struct {
	server *uiserver.Server
	url    string
}

type staticUIConfig struct{ cfg *uiconfig.Config }

func (s staticUIConfig) GetConfig() (*uiconfig.Config, error) { return s.cfg, nil }

// startDevUI serves the Web UI on addr. A non-empty codecEndpoint is the codec server the UI
// decodes payloads with (the API's /codec).
func startDevUI(addr, temporalAddr, namespace, codecEndpoint string) (*devUI, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_UI_ADDR=%q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_UI_ADDR=%q: bad port", addr)
	}
	// ui-server exits the process when it cannot bind, so check the port ourselves first.
	ln, err := listen(addr, "PYXIS_DEV_UI_ADDR or --ui-addr")
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
		// codec endpoint; it has no sign-in here anyway (README, Security).
		// The UI sends the codec-session cookie (api Config.CodecSession) with its calls.
		Codec: uiconfig.Codec{Endpoint: codecEndpoint, PassAccessToken: false, IncludeCredentials: codecEndpoint != ""},
	}}))
	go func() {
		if err := srv.Start(); err != nil {
			slog.Error("temporal web ui", "error", err)
		}
	}()
	ui := &devUI{server: srv, url: "http://" + displayAddr(addr)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if ok, _ := httpOK(ctx, ui.url+"/healthz"); ok {
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

// Stop stops the UI server.
func (u *devUI) Stop() { u.server.Stop() }

// httpOK reports whether GET url answers 200.
func httpOK(ctx context.Context, url string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("answered %s", resp.Status)
	}
	return true, nil
}
