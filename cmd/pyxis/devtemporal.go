package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	temporalconfig "go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	toolschema "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"

	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/workflows"
)

// devTemporal is a single-process Temporal server on SQLite (or Postgres), for `pyxis dev` and
// `pyxis loadtest --dev` only: production runs a real cluster (see docker-compose.yaml).
type devTemporal struct {
	server   temporal.Server
	hostPort string
}

// devTemporalOptions says where the dev server listens and keeps its state.
type devTemporalOptions struct {
	// FrontendAddr is host:port of the gRPC frontend clients dial.
	FrontendAddr string
	// DBFile is the SQLite file; empty keeps everything in memory (unless Postgres is set).
	DBFile    string
	Namespace string
	// LogFile receives the server's own logs, which would drown the console.
	LogFile string
	// PortsFile keeps the internal services' ports across restarts of a persisted server.
	PortsFile string
	// ShardsFile records the history shard count of each persisted store (historyShards).
	ShardsFile string
	// Postgres, when set, keeps the server's state in Postgres instead of SQLite.
	Postgres *devTemporalPostgres
}

// devTemporalPostgres says where a dev server on Postgres keeps its state: two databases of
// its own (history and visibility) on dev mode's Postgres server.
type devTemporalPostgres struct {
	// AdminURL reaches a database of the server as a role that may create databases.
	AdminURL string
	// Database and Visibility name the two databases; they are created when missing.
	Database   string
	Visibility string
}

const devClusterName = "active"

// defaultHistoryShards is the history shard count of a new dev store (an existing one keeps
// its own: historyShards). With one shard every workflow's persistence goes through one
// shard's lock and one set of task queue processors; four let the history service work on
// several at once, which a Postgres store can take. Measured with `pyxis loadtest --dev
// --requests 200 --users 32 --baseline` on SQLite (2 CPUs shared, load average 9-15): CPU
// time per bare workflow 103-121 ms with 4 shards against 116 ms with 1, the rest of the
// settings equal; no cost we could see above the noise.
const defaultHistoryShards = 4

func startDevTemporal(o devTemporalOptions) (*devTemporal, error) {
	host, portStr, err := net.SplitHostPort(o.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_TEMPORAL_ADDR=%q: %w", o.FrontendAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_TEMPORAL_ADDR=%q: bad port", o.FrontendAddr)
	}
	// The frontend's port is the one people type; fail clearly when it is taken.
	ln, err := service.Listen(o.FrontendAddr, "PYXIS_DEV_TEMPORAL_ADDR")
	if err != nil {
		return nil, err
	}
	_ = ln.Close()

	var st devStore
	if o.Postgres != nil {
		st, err = postgresStore(*o.Postgres)
	} else {
		st, err = sqliteStore(o.DBFile)
	}
	if err != nil {
		return nil, err
	}
	shards := int32(defaultHistoryShards)
	if st.persisted {
		if shards, err = historyShards(o.ShardsFile, st.name, st.existed, defaultHistoryShards); err != nil {
			return nil, err
		}
	}

	ports, err := internalPorts(o.PortsFile, 7)
	if err != nil {
		return nil, err
	}
	svc := func(grpc, membership int, bindIP string) temporalconfig.Service {
		rpc := temporalconfig.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnIP: bindIP}
		if bindIP == "" {
			rpc.BindOnLocalHost = true
		}
		return temporalconfig.Service{RPC: rpc}
	}
	cfg := &temporalconfig.Config{
		Global: temporalconfig.Global{
			Membership: temporalconfig.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"},
		},
		Persistence: temporalconfig.Persistence{
			DefaultStore:     st.defaultStore,
			VisibilityStore:  st.visibilityStore,
			NumHistoryShards: shards,
			DataStores:       st.dataStores,
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        devClusterName,
			CurrentClusterName:       devClusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				devClusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: o.FrontendAddr},
			},
		},
		DCRedirectionPolicy: temporalconfig.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]temporalconfig.Service{
			"frontend": svc(port, ports[0], host),
			"history":  svc(ports[1], ports[2], ""),
			"matching": svc(ports[3], ports[4], ""),
			"worker":   svc(ports[5], ports[6], ""),
		},
		Archival: temporalconfig.Archival{
			History:    temporalconfig.HistoryArchival{State: "disabled"},
			Visibility: temporalconfig.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: temporalconfig.NamespaceDefaults{Archival: temporalconfig.ArchivalNamespaceDefaults{
			History:    temporalconfig.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: temporalconfig.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: temporalconfig.PublicClient{HostPort: o.FrontendAddr},
	}

	// The namespace is created with the search attributes already registered, so the worker
	// never races their registration; on a restart CreateNamespaces finds it and does nothing.
	// (With setup=true the SQLite plugin creates the schema of a new file on first connect;
	// postgresStore has made the Postgres schema.) CreateNamespaces writes through the SQL
	// plugin the config names, so it serves Postgres as well as SQLite.
	sas := make(map[string]enumspb.IndexedValueType, len(workflows.SearchAttributeNames))
	for _, n := range workflows.SearchAttributeNames {
		sas[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	ns, err := sqlite.NewNamespaceConfig(devClusterName, o.Namespace, false, sas)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", o.Namespace, err)
	}
	if err := sqlite.CreateNamespaces(st.dataStores[st.defaultStore].SQL, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", o.Namespace, err)
	}

	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "warn", OutputFile: o.LogFile}))
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(devDynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	return &devTemporal{server: srv, hostPort: o.FrontendAddr}, nil
}

// devDynamicConfig is the dev server's dynamic configuration. Each setting was measured with
// `pyxis loadtest --dev --requests 200 --users 32 --baseline` (2 CPUs shared with other
// work, load average 4-15, so one setting alone moved the figures less than the noise
// between identical runs, 20-40%). All of them together, with the SQLite settings of
// sqliteStore and four shards, in runs interleaved with the old settings: CPU time of the
// whole process per request 457-483 ms before, 390-392 ms after; per bare workflow 122-147
// ms before, 101-120 ms after; completed requests/s 1.54-1.68 before, 1.92-2.63 after.
//
//   - matching.numTaskqueue{Read,Write}Partitions 1 (default 4): one worker process polls
//     each task queue; with four partitions its polls and the tasks land on different
//     partitions and are forwarded between them.
//   - system.forceSearchAttributesCacheRefreshOnRead is left off (it was on): it re-reads
//     the search attributes from the store on every read ("should not be turned on in
//     production"). The namespace is created with its search attributes registered, so
//     nothing waits for the cache.
//
// Eager workflow start and eager activity execution are on by default in this server; the
// SDK uses eager activities when the worker shares the client, as dev mode's does.
func devDynamicConfig() dynamicconfig.StaticClient {
	one := []dynamicconfig.ConstrainedValue{{Value: 1}}
	return dynamicconfig.StaticClient{
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  one,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): one,
	}
}

// Stop stops the server.
func (d *devTemporal) Stop() error { return d.server.Stop() }

// devStore is the persistence of a dev server.
type devStore struct {
	// name is the store's kind, temporalStoreSQLite or temporalStorePostgres.
	name                          string
	defaultStore, visibilityStore string
	dataStores                    map[string]temporalconfig.DataStore
	// persisted says the state outlives the process; existed that it was there before.
	persisted, existed bool
}

// sqliteStore keeps the server's state in the SQLite file dbFile, or in memory without one.
func sqliteStore(dbFile string) (devStore, error) {
	sqlCfg := &temporalconfig.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	st := devStore{name: temporalStoreSQLite, defaultStore: sqliteplugin.PluginName, visibilityStore: sqliteplugin.PluginName,
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

// postgresStore keeps the server's state in two databases of pg's server, creating them and
// their schema (or bringing the schema up to date) with the server module's own schema files
// and tools, as temporal-sql-tool's setup-schema and update-schema do.
func postgresStore(pg devTemporalPostgres) (devStore, error) {
	st := devStore{name: temporalStorePostgres, defaultStore: "postgres", visibilityStore: "postgres-visibility", persisted: true}
	u, err := url.Parse(pg.AdminURL)
	if err != nil {
		return st, fmt.Errorf("temporal on postgres: %w", err)
	}
	base := temporalconfig.SQL{
		PluginName: postgresql.PluginNamePGX, ConnectAddr: u.Host, ConnectProtocol: "tcp",
		User: u.User.Username(), ConnectAttributes: map[string]string{"sslmode": "disable"},
		MaxConns: 20, MaxIdleConns: 20, MaxConnLifetime: time.Hour,
	}
	base.Password, _ = u.User.Password()
	if mode := u.Query().Get("sslmode"); mode != "" {
		base.ConnectAttributes["sslmode"] = mode
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

// internalPorts returns the ports of the history, matching and worker services and of the
// membership ring. A persisted server must come back on the ports it had: its SQLite file
// remembers the ring's members by address, and a restart on new ports leaves the services
// looking for peers that no longer exist ("Not enough hosts to serve the request") until the
// old records age out. So the ports are kept beside the database and reused while free.
func internalPorts(file string, n int) ([]int, error) {
	if file != "" {
		if raw, err := os.ReadFile(file); err == nil {
			var saved []int
			if json.Unmarshal(raw, &saved) == nil && len(saved) == n && slices.Max(saved) <= lowPortMax && portsFree(saved) {
				return saved, nil
			}
		}
	}
	ports, err := freePorts(n)
	if err != nil || file == "" {
		return ports, err
	}
	raw, _ := json.Marshal(ports)
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		return nil, fmt.Errorf("save Temporal ports: %w", err)
	}
	return ports, nil
}

func portsFree(ports []int) bool {
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}

// Temporal's ports are taken from this range: on Postgres its cluster_membership table keeps
// a service's port in a SMALLINT, so a port above 32767 (the kernel's ephemeral ports are)
// stops the server at start ("unable to initialize membership heartbeats").
const (
	lowPortMin = 10000
	lowPortMax = 32767
)

// freePorts finds n distinct free TCP ports on the loopback interface, below 32768.
func freePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 2000 {
			return nil, fmt.Errorf("find a free port between %d and %d: none after %d tries", lowPortMin, lowPortMax, tries)
		}
		p := lowPortMin + rand.IntN(lowPortMax-lowPortMin+1)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		lns = append(lns, l)
		ports = append(ports, p)
	}
	return ports, nil
}
