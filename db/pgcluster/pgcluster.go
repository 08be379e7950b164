// Package pgcluster runs a private PostgreSQL server from the initdb and pg_ctl binaries
// installed on the machine. Test helpers use it when no server is configured, and the dev
// mode of the binary uses it to run without any setup.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Superuser is the role initdb creates; it needs no password (trust authentication).
const Superuser = "postgres"

// Cluster is a PostgreSQL server started by Start. Stop it with Stop.
type Cluster struct {
	dir       string
	port      int
	socketDir string
	bin       binaries
	owner     *osUser
}

// Start runs a PostgreSQL server on 127.0.0.1:port with its data in dir. When dir holds no
// cluster yet (no PG_VERSION file) it is created first with initdb: superuser postgres, trust
// authentication, UTF8, C locale. Port 0 picks a free port. The binaries are looked up on PATH
// and then under /usr/lib/postgresql/*/bin.
//
// PostgreSQL refuses to run as root, so when the process runs as root the server runs as the
// postgres OS user, dir is handed to that user, and every parent of dir must be searchable by
// it (os.MkdirTemp and t.TempDir create 0700 directories): Start checks this and says which
// directory is in the way.
func Start(ctx context.Context, dir string, port int) (*Cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		if c.owner, err = lookupOSUser(Superuser); err != nil {
			return nil, err
		}
	}
	if err := c.prepareDirs(); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		c.removeSocketDir()
		return nil, err
	}
	// A port picked here may be taken by someone else before the server binds it: retry.
	for attempt := 0; ; attempt++ {
		c.port = port
		if port == 0 {
			if c.port, err = freePort(); err != nil {
				c.removeSocketDir()
				return nil, err
			}
		}
		err = c.start(ctx)
		if err == nil || port != 0 || attempt == 2 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		c.removeSocketDir()
		return nil, err
	}
	return c, nil
}

// URL returns the connection URL of database on this server, as the superuser.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// SocketDir returns the folder of the server's Unix socket (.s.PGSQL.<port>): a client on
// this machine reaches it there with host=<SocketDir> and port=<Port>.
func (c *Cluster) SocketDir() string { return c.socketDir }

// Dir returns the data directory.
func (c *Cluster) Dir() string { return c.dir }

// Stop shuts the server down (fast mode: sessions are disconnected) and waits for it. The data
// directory is kept.
func (c *Cluster) Stop(ctx context.Context) error {
	defer c.removeSocketDir()
	if _, err := c.run(ctx, c.bin.pgCtl, "-D", c.dir, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pgcluster: stop: %w", err)
	}
	return nil
}

// Halt stops the server in a pg_ctl shutdown mode ("fast" disconnects sessions and
// checkpoints; "immediate" aborts, as a crash does, and the next start recovers from the WAL)
// and waits for it, keeping the data directory and the port for Resume.
func (c *Cluster) Halt(ctx context.Context, mode string) error {
	switch mode {
	case "smart", "fast", "immediate":
	default:
		return fmt.Errorf("pgcluster: shutdown mode %q: want smart, fast or immediate", mode)
	}
	if _, err := c.run(ctx, c.bin.pgCtl, "-D", c.dir, "-m", mode, "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pgcluster: stop -m %s: %w", mode, err)
	}
	return nil
}

// Resume starts a server that Halt stopped, on the same port, and waits until it accepts
// connections.
func (c *Cluster) Resume(ctx context.Context) error { return c.start(ctx) }

// prepareDirs creates the data and socket directories and hands them to the server's user.
func (c *Cluster) prepareDirs() error {
	if c.owner != nil {
		if err := c.owner.checkSearchable(c.dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: create data dir: %w", err)
	}
	sock, err := os.MkdirTemp("", "pgsock-")
	if err != nil {
		return fmt.Errorf("pgcluster: create socket dir: %w", err)
	}
	c.socketDir = sock
	if c.owner == nil {
		return nil
	}
	if err := os.Chmod(sock, 0o755); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := os.Chown(sock, c.owner.uid, c.owner.gid); err != nil {
		return fmt.Errorf("pgcluster: chown socket dir: %w", err)
	}
	if err := chownTree(c.dir, c.owner.uid, c.owner.gid); err != nil {
		return fmt.Errorf("pgcluster: chown data dir to %s: %w", Superuser, err)
	}
	return nil
}

// initdb creates the cluster unless dir already holds one.
func (c *Cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dir, "PG_VERSION")); err == nil {
		return nil
	}
	_, err := c.run(ctx, c.bin.initdb, "-D", c.dir, "-U", Superuser, "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	return nil
}

// start runs pg_ctl start and waits until the server accepts connections.
func (c *Cluster) start(ctx context.Context) error {
	opts := strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-k", c.socketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "max_connections=200",
	}, " ")
	logFile := filepath.Join(c.dir, "server.log")
	if _, err := c.run(ctx, c.bin.pgCtl, "-D", c.dir, "-l", logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		if tail := logTail(logFile); tail != "" {
			err = fmt.Errorf("%w\nserver log:\n%s", err, tail)
		}
		return fmt.Errorf("pgcluster: start on port %d: %w", c.port, err)
	}
	return nil
}

// run executes a PostgreSQL binary, as the postgres user when needed, and returns its output;
// the output is part of the error when it fails.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = os.TempDir()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if c.owner != nil {
		c.owner.apply(cmd)
	}
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w: %s", filepath.Base(name), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// removeSocketDir deletes the socket directory.
func (c *Cluster) removeSocketDir() {
	if c.socketDir != "" {
		_ = os.RemoveAll(c.socketDir)
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: pick a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("pgcluster: pick a free port: not a TCP address")
	}
	return addr.Port, nil
}

// logTail returns the last lines of the server log, for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
