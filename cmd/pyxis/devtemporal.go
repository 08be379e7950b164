package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	temporalconfig "go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/medreq/pyxis/workflows"
)

// devTemporal is a single-process Temporal server on SQLite, for `pyxis dev` only: production
// runs a real cluster (see docker-compose.yaml).
type devTemporal struct {
	server   temporal.Server
	hostPort string
}

// devTemporalOptions says where the dev server listens and keeps its state.
type devTemporalOptions struct {
	// FrontendAddr is host:port of the gRPC frontend clients dial.
	FrontendAddr string
	// DBFile is the SQLite file; empty keeps everything in memory.
	DBFile    string
	Namespace string
	// LogFile receives the server's own logs, which would drown the console.
	LogFile string
	// PortsFile keeps the internal services' ports across restarts of a persisted server.
	PortsFile string
}

const devClusterName = "active"

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
	ln, err := listen(o.FrontendAddr, "PYXIS_DEV_TEMPORAL_ADDR")
	if err != nil {
		return nil, err
	}
	_ = ln.Close()

	sqlCfg := &temporalconfig.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if o.DBFile == "" {
		// Shared-cache memory database: one connection keeps it alive and avoids lock errors.
		sqlCfg.DatabaseName = fmt.Sprintf("pyxis-dev-%d", time.Now().UnixNano())
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.MaxConns, sqlCfg.MaxIdleConns = 1, 1
	} else {
		sqlCfg.DatabaseName = o.DBFile
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		sqlCfg.ConnectAttributes["setup"] = "true"
		// WAL lets readers proceed beside the one writer, so several connections help instead
		// of timing out under load as a single one did (temporalio/temporal#9686); busy_timeout
		// makes a writer wait for the lock rather than fail.
		sqlCfg.ConnectAttributes["journal_mode"] = "wal"
		sqlCfg.ConnectAttributes["synchronous"] = "2"
		sqlCfg.ConnectAttributes["busy_timeout"] = "10000"
		sqlCfg.MaxConns, sqlCfg.MaxIdleConns = 4, 4
		if err := os.MkdirAll(filepath.Dir(o.DBFile), 0o755); err != nil {
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
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]temporalconfig.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
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
	// (With setup=true the SQLite plugin creates the schema of a new file on first connect.)
	sas := make(map[string]enumspb.IndexedValueType, len(workflows.SearchAttributeNames))
	for _, n := range workflows.SearchAttributeNames {
		sas[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	ns, err := sqlite.NewNamespaceConfig(devClusterName, o.Namespace, false, sas)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", o.Namespace, err)
	}
	if err := sqlite.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", o.Namespace, err)
	}

	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "warn", OutputFile: o.LogFile}))
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	return &devTemporal{server: srv, hostPort: o.FrontendAddr}, nil
}

// Stop stops the server.
func (d *devTemporal) Stop() error { return d.server.Stop() }

// internalPorts returns the ports of the history, matching and worker services and of the
// membership ring. A persisted server must come back on the ports it had: its SQLite file
// remembers the ring's members by address, and a restart on new ports leaves the services
// looking for peers that no longer exist ("Not enough hosts to serve the request") until the
// old records age out. So the ports are kept beside the database and reused while free.
func internalPorts(file string, n int) ([]int, error) {
	if file != "" {
		if raw, err := os.ReadFile(file); err == nil {
			var saved []int
			if json.Unmarshal(raw, &saved) == nil && len(saved) == n && portsFree(saved) {
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

// freePorts asks the kernel for n distinct free TCP ports on the loopback interface.
func freePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
