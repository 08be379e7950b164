package devstack

import (
	"fmt"
	"net"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	temporalconfig "go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/workflows"
)

// Temporal is a single-process Temporal server on SQLite (or Postgres), for dev mode, `pyxis-dev
// loadtest --dev` and the fault scenarios only: production runs a real cluster (see
// docker-compose.yaml).
type Temporal struct {
	server   temporal.Server
	hostPort string
}

// TemporalOptions says where the dev server listens and keeps its state.
type TemporalOptions struct {
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
	Postgres *TemporalPostgres
}

// TemporalPostgres says where a dev server on Postgres keeps its state: two databases of
// its own (history and visibility) on dev mode's Postgres server.
type TemporalPostgres struct {
	// AdminURL reaches a database of the server as a role that may create databases.
	AdminURL string
	// Database and Visibility name the two databases; they are created when missing.
	Database   string
	Visibility string
}

const clusterName = "active"

// DefaultHistoryShards is the history shard count of a new dev store (an existing one keeps
// its own: historyShards). With one shard every workflow's persistence goes through one
// shard's lock and one set of task queue processors; four let the history service work on
// several at once, which a Postgres store can take. Measured with `pyxis-dev loadtest --dev
// --requests 200 --users 32 --baseline` on SQLite (2 CPUs shared, load average 9-15): CPU
// time per bare workflow 103-121 ms with 4 shards against 116 ms with 1, the rest of the
// settings equal; no cost we could see above the noise.
const DefaultHistoryShards = 4

// StartTemporal starts a Temporal server in this process, as o says; Stop it when done.
func StartTemporal(o TemporalOptions) (*Temporal, error) {
	host, portStr, err := net.SplitHostPort(o.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_TEMPORAL_ADDR (--temporal-addr) %q: %w", o.FrontendAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("PYXIS_DEV_TEMPORAL_ADDR (--temporal-addr) %q: bad port", o.FrontendAddr)
	}
	// The frontend's port is the one people type; fail clearly when it is taken.
	ln, err := service.Listen(o.FrontendAddr, "PYXIS_DEV_TEMPORAL_ADDR or --temporal-addr")
	if err != nil {
		return nil, err
	}
	_ = ln.Close()

	var st temporalStore
	if o.Postgres != nil {
		st, err = postgresStore(*o.Postgres)
	} else {
		st, err = sqliteStore(o.DBFile)
	}
	if err != nil {
		return nil, err
	}
	shards := int32(DefaultHistoryShards)
	if st.persisted {
		if shards, err = historyShards(o.ShardsFile, st.name, st.existed, DefaultHistoryShards); err != nil {
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
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: o.FrontendAddr},
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
	ns, err := sqlite.NewNamespaceConfig(clusterName, o.Namespace, false, sas)
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
		temporal.WithDynamicConfigClient(dynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	return &Temporal{server: srv, hostPort: o.FrontendAddr}, nil
}

// dynamicConfig is the dev server's dynamic configuration. Each setting was measured with
// `pyxis-dev loadtest --dev --requests 200 --users 32 --baseline` (2 CPUs shared with other
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
//   - history.externalPayloadsEnabled off (it is on): with it, every batch of events the
//     server writes is walked payload by payload to count those kept in an external store
//     (a search attribute and metrics). Pyxis keeps none there (its codec encrypts payloads
//     in place), and the walk was 2.9% of the process's CPU under load (`go tool pprof -peek
//     CalculateExternalPayloadSize`).
//
// Eager workflow start and eager activity execution are on by default in this server; the
// SDK uses eager activities when the worker shares the client, as dev mode's does.
func dynamicConfig() dynamicconfig.StaticClient {
	one := []dynamicconfig.ConstrainedValue{{Value: 1}}
	return dynamicconfig.StaticClient{
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  one,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): one,
		dynamicconfig.ExternalPayloadsEnabled.Key():             []dynamicconfig.ConstrainedValue{{Value: false}},
	}
}

// Stop stops the server.
func (d *Temporal) Stop() error { return d.server.Stop() }

// HostPort is the frontend's address, as clients dial it.
func (d *Temporal) HostPort() string { return d.hostPort }

// stops the server at start ("unable to initialize membership heartbeats").
const (
	lowPortMin = 10000
	lowPortMax = 32767
)
