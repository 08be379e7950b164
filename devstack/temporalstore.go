package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	temporalconfig "go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	toolschema "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// sqliteFile is the SQLite store's file in the data folder.
const sqliteFile = "temporal.db"

// temporalStore is the persistence of a dev server.
type temporalStore struct {
	// name is the store's kind, TemporalStoreSQLite or TemporalStorePostgres.
	name                          string
	defaultStore, visibilityStore string
	dataStores                    map[string]temporalconfig.DataStore
	// persisted says the state outlives the process; existed that it was there before.
	persisted, existed bool
}

// sqliteStore keeps the server's state in the SQLite file dbFile, or in memory without one.
func sqliteStore(dbFile string) (temporalStore, error) {
	sqlCfg := &temporalconfig.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	st := temporalStore{name: TemporalStoreSQLite, defaultStore: sqliteplugin.PluginName, visibilityStore: sqliteplugin.PluginName,
		dataStores: map[string]temporalconfig.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}}}
	if dbFile == "" {
		// Shared-cache memory database: one connection keeps it alive and avoids lock errors.
		sqlCfg.DatabaseName = fmt.Sprintf("pyxis-dev-%d", time.Now().UnixNano())
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.MaxConns, sqlCfg.MaxIdleConns = 1, 1
		return st, nil
	}
	_, err := os.Stat(dbFile)
	st.persisted, st.existed = true, err == nil
	sqlCfg.DatabaseName = dbFile
	sqlCfg.ConnectAttributes["mode"] = "rwc"
	sqlCfg.ConnectAttributes["setup"] = "true"
	// WAL lets readers proceed beside the one writer, so several connections help instead
	// of timing out under load as a single one did (temporalio/temporal#9686); busy_timeout
	// makes a writer wait for the lock rather than fail. With WAL, synchronous=NORMAL (1)
	// keeps every committed transaction across a crash of the process (the WAL is in the
	// OS's hands) and syncs only at checkpoints, where FULL (2) synced every commit; an OS
	// crash or power loss may lose the last transactions, which dev mode can afford. Eight
	// connections (four before): readers and the writer wait less for one another; four
	// measured the same within the noise.
	sqlCfg.ConnectAttributes["journal_mode"] = "wal"
	sqlCfg.ConnectAttributes["synchronous"] = "1"
	sqlCfg.ConnectAttributes["busy_timeout"] = "10000"
	sqlCfg.MaxConns, sqlCfg.MaxIdleConns = 8, 8
	if err := os.MkdirAll(filepath.Dir(dbFile), 0o755); err != nil {
		return st, err
	}
	return st, nil
}

// Schemas of the Temporal server's Postgres databases, embedded in the server module.
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

// postgresSQLConfig is how Temporal's Postgres plugin reaches the server of adminURL: the
// same host, port, role and sslmode, read with pgx's own parser. A host in the URL's host
// parameter, a Unix socket's folder (postgres://postgres@/postgres?host=/var/run/postgresql),
// goes to the plugin as that parameter too: the plugin builds its own URL from an address,
// and without it pgx would pick a default socket folder or localhost, which may be another
// server than the one named.
func postgresSQLConfig(adminURL string) (temporalconfig.SQL, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return temporalconfig.SQL{}, err
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return temporalconfig.SQL{}, err
	}
	sql := temporalconfig.SQL{
		PluginName: postgresql.PluginNamePGX, ConnectProtocol: "tcp",
		User: cfg.User, Password: cfg.Password, ConnectAttributes: map[string]string{"sslmode": "disable"},
		MaxConns: 20, MaxIdleConns: 20, MaxConnLifetime: time.Hour,
	}
	port := strconv.Itoa(int(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") {
		sql.ConnectProtocol = "unix"
		sql.ConnectAttributes["host"], sql.ConnectAttributes["port"] = cfg.Host, port
	} else {
		sql.ConnectAddr = net.JoinHostPort(cfg.Host, port)
	}
	if mode := u.Query().Get("sslmode"); mode != "" {
		sql.ConnectAttributes["sslmode"] = mode
	}
	return sql, nil
}

// postgresStore keeps the server's state in two databases of pg's server, creating them and
// their schema (or bringing the schema up to date) with the server module's own schema files
// and tools, as temporal-sql-tool's setup-schema and update-schema do.
func postgresStore(pg TemporalPostgres) (temporalStore, error) {
	st := temporalStore{name: TemporalStorePostgres, defaultStore: "postgres", visibilityStore: "postgres-visibility", persisted: true}
	base, err := postgresSQLConfig(pg.AdminURL)
	if err != nil {
		return st, fmt.Errorf("temporal on postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, pg.AdminURL)
	if err != nil {
		return st, fmt.Errorf("temporal on postgres: connect: %w", err)
	}
	defer admin.Close(ctx)
	st.dataStores = map[string]temporalconfig.DataStore{}
	for _, d := range []struct{ store, name, schema string }{
		{st.defaultStore, pg.Database, postgresSchema},
		{st.visibilityStore, pg.Visibility, postgresVisibilitySchema},
	} {
		var exists bool
		if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", d.name).Scan(&exists); err != nil {
			return st, fmt.Errorf("temporal on postgres: look for database %s: %w", d.name, err)
		}
		if !exists {
			if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{d.name}.Sanitize()); err != nil {
				return st, fmt.Errorf("temporal on postgres: create database %s: %w", d.name, err)
			}
		}
		cfg := base
		cfg.ConnectAttributes = maps.Clone(base.ConnectAttributes)
		cfg.DatabaseName = d.name
		had, err := setupPostgresSchema(&cfg, d.schema)
		if err != nil {
			return st, fmt.Errorf("temporal on postgres: schema of %s: %w", d.name, err)
		}
		if d.store == st.defaultStore {
			st.existed = had
		}
		st.dataStores[d.store] = temporalconfig.DataStore{SQL: &cfg}
	}
	return st, nil
}

// setupPostgresSchema gives a database the schema: the version tables at 0.0 when it has
// none, then every versioned update up to the newest the server module embeds. It reports
// whether the database had a schema already.
func setupPostgresSchema(cfg *temporalconfig.SQL, schemaName string) (bool, error) {
	logger := log.NewNoopLogger()
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	_, verr := conn.ReadSchemaVersion()
	had := verr == nil
	if !had {
		if err := toolschema.NewSetupSchemaTask(conn, &toolschema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
			return false, err
		}
	}
	if err := toolschema.NewUpdateSchemaTask(conn, &toolschema.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schemaName}, logger).Run(); err != nil {
		return had, err
	}
	return had, nil
}

// historyShards returns the history shard count of a persisted store. A store's count is
// fixed when it is created, so it is recorded in file (one entry per store kind): a recorded
// count is used as it is; a store that existed before counts were recorded was made with 1;
// a new store gets def, recorded.
func historyShards(file, store string, existed bool, def int32) (int32, error) {
	counts := map[string]int32{}
	if raw, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(raw, &counts); err != nil {
			return 0, fmt.Errorf("%s: %w", file, err)
		}
	}
	if n, ok := counts[store]; ok && n > 0 {
		return n, nil
	}
	n := def
	if existed {
		n = 1
	}
	if file == "" {
		return n, nil
	}
	counts[store] = n
	raw, _ := json.Marshal(counts)
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		return 0, fmt.Errorf("save Temporal history shard count: %w", err)
	}
	return n, nil
}
