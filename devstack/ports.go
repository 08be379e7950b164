package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"

	"github.com/medreq/pyxis/service"
)

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
	ports, err := FreePorts(n)
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

// FreePorts finds n distinct free TCP ports on the loopback interface, below 32768.
func FreePorts(n int) ([]int, error) {
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

// Temporal's ports are taken from this range: on Postgres its cluster_membership table keeps
// a service's port in a SMALLINT, so a port above 32767 (the kernel's ephemeral ports are)

// checkPorts makes sure the addresses dev mode will listen on are free, before it touches the
// database: a taken port is reported by its setting and flag, and nothing is migrated or
// seeded for a start that cannot happen. Each is bound and let go at once; the API's is bound
// already and kept. The MLLP listener's address has a setting only.
func checkPorts(o Options, cfg service.Config) error {
	type port struct{ addr, setting string }
	var ports []port
	if cfg.TemporalAddress == "" {
		ports = append(ports, port{o.TemporalAddr, "PYXIS_DEV_TEMPORAL_ADDR or --temporal-addr"})
		if !o.NoUI {
			ports = append(ports, port{o.UIAddr, "PYXIS_DEV_UI_ADDR or --ui-addr"})
		}
	}
	ports = append(ports,
		port{cfg.MLLPAddr, "PYXIS_MLLP_ADDR"},
		port{o.CabinetSimAddr, "PYXIS_DEV_CABINET_SIM_ADDR or --cabinet-sim-addr"},
		port{o.CabinetSimAdmin, "PYXIS_DEV_CABINET_SIM_ADMIN or --cabinet-sim-admin"})
	var errs []error
	for _, p := range ports {
		ln, err := service.Listen(p.addr, p.setting)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = ln.Close()
	}
	return errors.Join(errs...)
}
