package deploy

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/pgcluster"
	"github.com/medreq/pyxis/db/pgcluster/pgclustertest"
)

// initScripts are the postgres service's init scripts, in the order the image runs them.
func initScripts(t *testing.T) []string {
	t.Helper()
	scripts, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "postgres", "initdb.d", "*.sh"))
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	return scripts // Glob sorts, as the image does
}

// dbRoles is what the init scripts say about the roles they create.
type dbRoles struct {
	login     map[string]string // login role -> environment variable holding its password
	nologin   map[string]bool
	member    map[string][]string // role -> the groups granted to it
	dbOwner   map[string]string   // database -> owner
	connectTo map[string][]string // database -> roles granted CONNECT
}

// readInitScripts reads the SQL of the init scripts: CREATE ROLE, the psql variables the
// passwords come through, GRANT role TO role, CREATE DATABASE ... OWNER, GRANT CONNECT.
func readInitScripts(t *testing.T) dbRoles {
	t.Helper()
	r := dbRoles{login: map[string]string{}, nologin: map[string]bool{}, member: map[string][]string{},
		dbOwner: map[string]string{}, connectTo: map[string][]string{}}
	psqlVar := regexp.MustCompile(`-v (\w+)="\$(\w+)"`)
	password := regexp.MustCompile(`(?:CREATE|ALTER) ROLE (\w+) [A-Z ]*LOGIN [A-Z ]*PASSWORD :'(\w+)'`)
	createRole := regexp.MustCompile(`CREATE ROLE (\w+) (NO)?LOGIN\b`)
	grantRole := regexp.MustCompile(`(?m)^GRANT (\w+) TO (\w+);`)
	owner := regexp.MustCompile(`CREATE DATABASE (\w+) OWNER (\w+);`)
	connect := regexp.MustCompile(`GRANT CONNECT ON DATABASE (\w+) TO (\w+);`)
	for _, script := range initScripts(t) {
		data, err := os.ReadFile(script)
		require.NoError(t, err)
		text := string(data)
		vars := map[string]string{}
		for _, m := range psqlVar.FindAllStringSubmatch(text, -1) {
			vars[m[1]] = m[2]
		}
		for _, m := range createRole.FindAllStringSubmatch(text, -1) {
			if m[2] == "NO" {
				r.nologin[m[1]] = true
			}
		}
		for _, m := range password.FindAllStringSubmatch(text, -1) {
			require.Containsf(t, vars, m[2], "%s: psql variable %s is not set with -v", script, m[2])
			r.login[m[1]] = vars[m[2]]
		}
		for _, m := range grantRole.FindAllStringSubmatch(text, -1) {
			r.member[m[2]] = append(r.member[m[2]], m[1])
		}
		for _, m := range owner.FindAllStringSubmatch(text, -1) {
			r.dbOwner[m[1]] = m[2]
		}
		for _, m := range connect.FindAllStringSubmatch(text, -1) {
			r.connectTo[m[1]] = append(r.connectTo[m[1]], m[2])
		}
	}
	return r
}

// TestComposeDatabaseRoles checks the wiring docs/security.md asks for: migrate
// connects as the schema owner, api and worker as a login role that is only a member of
// pyxis_app, the role the migrations grant the application's rights to.
func TestComposeDatabaseRoles(t *testing.T) {
	p := loadCompose(t, composeEnv)
	roles := readInitScripts(t)
	postgres := p.Services["postgres"]

	migrations, err := filepath.Glob(filepath.Join(repoRoot(t), "db", "migrations", "*.sql"))
	require.NoError(t, err)
	var grants string
	for _, m := range migrations {
		data, err := os.ReadFile(m)
		require.NoError(t, err)
		grants += string(data)
	}
	require.Contains(t, grants, "CREATE ROLE pyxis_app NOLOGIN", "the migrations' application role")
	assert.True(t, roles.nologin["pyxis_app"], "the init scripts create pyxis_app NOLOGIN: the owner cannot create roles")
	assert.Contains(t, roles.connectTo["pyxis"], "pyxis_app", "CONNECT was revoked from PUBLIC: pyxis_app needs it")

	for name, want := range pyxisServices {
		if want.dbUser == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			u, err := url.Parse(envOf(p.Services[name], "DATABASE_URL"))
			require.NoError(t, err)
			user := u.User.Username()
			pass, _ := u.User.Password()
			passVar, ok := roles.login[user]
			require.Truef(t, ok, "no init script creates the login role %s", user)
			assert.Equalf(t, envOf(postgres, passVar), pass, "%s's password is %s, which the postgres service must get too", user, passVar)
			assert.NotEmpty(t, pass)
			if name == "migrate" {
				assert.Equal(t, user, roles.dbOwner["pyxis"], "migrate runs as the owner of the pyxis database")
				return
			}
			assert.NotEqual(t, roles.dbOwner["pyxis"], user, "%s must not connect as the owner", name)
			assert.Equal(t, []string{"pyxis_app"}, roles.member[user], "%s's login role is a member of pyxis_app only", name)
		})
	}
	assert.Equal(t, composeEnv["PYXIS_SVC_DB_PASSWORD"], envOf(postgres, "PYXIS_SVC_DB_PASSWORD"))
}

// TestInitScriptsAgainstPostgres runs the init scripts on a private PostgreSQL cluster as the
// postgres image would, migrates as the owner, and connects as the application's login role:
// it may use the tables but not rewrite the audit trail. Then it runs the role script again,
// as an operator would on an existing volume.
func TestInitScriptsAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("no psql on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster := pgclustertest.Start(t)

	p := loadCompose(t, composeEnv)
	env := append(os.Environ(), "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(cluster.Port()),
		"POSTGRES_USER="+pgcluster.Superuser, "POSTGRES_DB=postgres")
	for name, v := range p.Services["postgres"].Environment {
		if strings.HasSuffix(name, "_PASSWORD") && v != nil {
			env = append(env, name+"="+*v)
		}
	}
	runScript := func(script string) {
		cmd := exec.CommandContext(ctx, "sh", script)
		cmd.Env = append(env, "PATH="+filepath.Dir(psql)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		require.NoErrorf(t, err, "%s: %s", filepath.Base(script), out)
	}
	scripts := initScripts(t)
	for _, s := range scripts {
		runScript(s)
	}

	// connect opens a connection as the role a compose service's DATABASE_URL names, to the
	// private cluster (trust authentication: the password is not checked here).
	connect := func(service string) *pgx.Conn {
		u, err := url.Parse(envOf(p.Services[service], "DATABASE_URL"))
		require.NoError(t, err)
		u.Host = "127.0.0.1:" + strconv.Itoa(cluster.Port())
		conn, err := pgx.Connect(ctx, u.String())
		require.NoErrorf(t, err, "connect as %s's role", service)
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		return conn
	}

	// Migrations run as the owner, who may not create roles: pyxis_app must already exist.
	owner, err := db.Open(ctx, "postgres://pyxis@127.0.0.1:"+strconv.Itoa(cluster.Port())+"/pyxis?sslmode=disable")
	require.NoError(t, err)
	defer owner.Close()
	require.NoError(t, db.Migrate(ctx, owner), "pyxis migrate as the owner")

	app := connect("api")
	var user string
	var member bool
	require.NoError(t, app.QueryRow(ctx, "SELECT current_user, pg_has_role('pyxis_app', 'USAGE')").Scan(&user, &member))
	assert.Equal(t, "pyxis_svc", user)
	assert.True(t, member, "pyxis_svc inherits pyxis_app's rights")
	var n int
	require.NoError(t, app.QueryRow(ctx, "SELECT count(*) FROM medications").Scan(&n), "the app reads its tables")
	_, err = app.Exec(ctx, "DELETE FROM audit_log")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "the app must not delete audit entries")
	assert.Equal(t, "42501", pgErr.Code, "insufficient_privilege")

	runScript(scripts[len(scripts)-1]) // again, on an initialised cluster
}
