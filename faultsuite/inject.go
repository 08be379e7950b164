package faultsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/faultsuite/proxy"
	"github.com/medreq/pyxis/intake"
	"github.com/medreq/pyxis/internal/token"
	"github.com/medreq/pyxis/service"
	"github.com/medreq/pyxis/workflows"
)

// The faults of the scenarios (scenarios.go): each injects its fault and heals it, and
// records what it observed: each fault it actually injected (a process that was running when
// killed, a server that was up when stopped, chunks a proxy lost or held), and each that
// caught the moment the scenario is for (a POST in flight, reports pending in the inbox).

// observed is what an injection saw.
type observed struct {
	// faults counts the faults injected; caught those that caught the scenario's moment.
	faults, caught int
	// problems fail the run; notes tell what was seen.
	problems, notes []string
}

func (o *observed) notef(format string, args ...any) {
	o.notes = append(o.notes, fmt.Sprintf(format, args...))
}

func injectWorkerKill(ctx context.Context, fs *stack, _ *Load, o *observed) error {
	for i := range 2 {
		if i > 0 {
			time.Sleep(4 * time.Second)
		}
		fs.logf("worker-kill: SIGKILL pyxis worker (pid %d)", fs.worker.cmd.Process.Pid)
		if fs.worker.killLive() {
			o.faults++
		}
		time.Sleep(2 * time.Second)
		if err := fs.startWorker(ctx); err != nil {
			return err
		}
		fs.logf("worker-kill: a new worker polls (pid %d)", fs.worker.cmd.Process.Pid)
	}
	return nil
}

func injectPostgresRestart(ctx context.Context, fs *stack, _ *Load, o *observed) error {
	for _, mode := range []string{"fast", "immediate"} {
		fs.logf("postgres-restart: pg_ctl stop -m %s", mode)
		if err := fs.pg.Halt(ctx, mode); err != nil {
			return err
		}
		o.faults++
		// /readyz must say not ready while the database is down.
		notReady := 0
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if ok, _ := service.HTTPOK(ctx, "http://"+fs.apiAddr+"/readyz"); !ok {
				notReady++
			}
		}
		if notReady == 0 {
			o.problems = append(o.problems, fmt.Sprintf("/readyz answered 200 throughout the outage (-m %s)", mode))
		}
		if err := fs.pg.Resume(ctx); err != nil {
			return err
		}
		fs.logf("postgres-restart: started again (/readyz not ready %d times meanwhile)", notReady)
		time.Sleep(3 * time.Second)
	}
	return nil
}

func injectTemporalRestart(_ context.Context, fs *stack, _ *Load, o *observed) error {
	fs.logf("temporal-restart: stopping the Temporal server")
	if err := fs.restartTemporal(3 * time.Second); err != nil {
		return err
	}
	o.faults++
	fs.logf("temporal-restart: the Temporal server is back")
	return nil
}

func injectCabinetOffline(down time.Duration) func(context.Context, *stack, *Load, *observed) error {
	return func(_ context.Context, fs *stack, _ *Load, o *observed) error {
		fs.logf("cabinet offline for %s", down)
		if err := fs.sim.SetFaults(cabsim.Faults{Offline: true}); err != nil {
			return err
		}
		o.faults++
		time.Sleep(down)
		if err := fs.sim.SetFaults(cabsim.Faults{}); err != nil {
			return err
		}
		fs.logf("cabinet back online")
		return nil
	}
}

func injectAPIKill(ctx context.Context, fs *stack, load *Load, o *observed) error {
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * time.Second)
		}
		// Between accepting a POST and answering it: kill while POSTs are on the way.
		_ = waitFor(ctx, 20*time.Second, func() (bool, error) { return load.InFlightPosts() >= 2, nil }, "POSTs in flight")
		inflight := load.InFlightPosts()
		fs.logf("api-kill: SIGKILL pyxis api with %d POSTs on the way", inflight)
		o.notef("api-kill: %d POSTs on the way at kill %d", inflight, i+1)
		if err := fs.killAPI(ctx, o, inflight > 0, time.Second); err != nil {
			return err
		}
	}
	return nil
}

// killAPI kills the api with SIGKILL, counting the fault (and whether it caught the moment the
// scenario is for), and starts a new one after down.
func (fs *stack) killAPI(ctx context.Context, o *observed, caught bool, down time.Duration) error {
	if fs.api.killLive() {
		o.faults++
		if caught {
			o.caught++
		}
	}
	time.Sleep(down)
	return fs.startAPI(ctx)
}

func injectMLLPKill(ctx context.Context, fs *stack, _ *Load, o *observed) error {
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * time.Second)
		}
		// Kill when the listener has acknowledged reports its applier has not applied yet.
		pending := int64(0)
		_ = waitFor(ctx, 30*time.Second, func() (bool, error) {
			n, _, err := fs.store.InboxBacklog(ctx)
			pending = n
			return err == nil && n > 0, nil
		}, "reports in the inbox")
		fs.logf("mllp-kill: SIGKILL pyxis api (MLLP listener and applier) with %d reports pending in the inbox", pending)
		o.notef("mllp-kill: %d reports pending in the inbox at kill %d", pending, i+1)
		if err := fs.killAPI(ctx, o, pending > 0, 2*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func injectPartition(_ context.Context, fs *stack, _ *Load, o *observed) error {
	fs.logf("partition: orders arrive, their ACKs are lost; reports are lost (6s)")
	dropped := fs.orders.Dropped() + fs.reports.Dropped()
	fs.orders.Set(proxy.DropReplies, 0)
	fs.reports.Set(proxy.Blackhole, 0)
	time.Sleep(6 * time.Second)
	fs.orders.Set(proxy.Pass, 0)
	fs.reports.Set(proxy.Pass, 0)
	if fs.orders.Dropped()+fs.reports.Dropped() > dropped {
		o.faults++
	}
	fs.orders.Cut()
	fs.reports.Cut()
	time.Sleep(2 * time.Second)
	fs.logf("partition: everything 3s late, past the 2s ACK timeout (8s)")
	delayed := fs.orders.Delayed() + fs.reports.Delayed()
	fs.orders.Set(proxy.Delay, 3*time.Second)
	fs.reports.Set(proxy.Delay, 3*time.Second)
	time.Sleep(8 * time.Second)
	fs.orders.Set(proxy.Pass, 0)
	fs.reports.Set(proxy.Pass, 0)
	if fs.orders.Delayed()+fs.reports.Delayed() > delayed {
		o.faults++
	}
	fs.logf("partition: healed (%d chunks dropped, %d delayed)", fs.orders.Dropped()+fs.reports.Dropped(), fs.orders.Delayed()+fs.reports.Delayed())
	o.notef("partition: %d chunks dropped, %d delayed", fs.orders.Dropped()+fs.reports.Dropped(), fs.orders.Delayed()+fs.reports.Delayed())
	return nil
}

// watchers is how many reads wait on the api that replica-kill kills.
const watchers = 8

func injectReplicaKill(ctx context.Context, fs *stack, _ *Load, o *observed) error {
	statuses, err := fs.statuses(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for id, st := range statuses {
		if !workflows.Status(st).Terminal() && len(ids) < watchers {
			ids = append(ids, id)
		}
	}
	tok, err := token.Sign([]byte(fs.secret), token.Holder{Subject: "fault-watcher", Name: "Fault Watcher", Role: pyxis.RolePharmacist}, time.Hour, time.Now())
	if err != nil {
		return err
	}
	// Reads that wait on the first api for their request to change; once it is killed, each
	// retries through the balancer and must be answered there.
	var waiting atomic.Int32
	type watch struct{ cut, answered bool }
	results := make(chan watch, len(ids))
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		go func() {
			var w watch
			defer func() { results <- w }()
			v, err := readRequest(wctx, fs.apiAddr, tok, id, "")
			for err == nil {
				waiting.Add(1)
				v, err = readRequest(wctx, fs.apiAddr, tok, id, fmt.Sprintf("?wait=60s&version=%d", v))
				waiting.Add(-1)
			}
			if wctx.Err() != nil {
				return
			}
			w.cut = true
			_, err = readRequest(wctx, fs.front, tok, id, fmt.Sprintf("?wait=5s&version=%d", v))
			w.answered = err == nil
		}()
	}
	_ = waitFor(ctx, 15*time.Second, func() (bool, error) { return int(waiting.Load()) == len(ids), nil }, "the reads to wait")
	fs.logf("replica-kill: SIGKILL the first api (the inbox's applier; %d reads waiting on it) and the first worker", waiting.Load())
	killed := time.Now()
	for _, c := range []*child{fs.api, fs.worker} {
		if c.killLive() {
			o.faults++
		}
	}
	// Postgres drops the killed process's session, and its advisory lock with it: the
	// second api's applier must take the lead within 5 s.
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		return fs.store.LeadHeld(ctx, intake.InboxLeaderKey)
	}, "another api to lead the inbox"); err != nil {
		o.problems = append(o.problems, "replica-kill: "+err.Error())
	} else if took := time.Since(killed); took > 5*time.Second {
		o.problems = append(o.problems, fmt.Sprintf("replica-kill: the inbox applier failed over in %s, over 5s", took.Round(10*time.Millisecond)))
	} else {
		o.notef("replica-kill: the inbox applier failed over in %s", took.Round(10*time.Millisecond))
	}
	cut, answered := 0, 0
	for range ids {
		w := <-results
		if w.cut {
			cut++
		}
		if w.answered {
			answered++
		}
	}
	o.notef("replica-kill: %d waiting reads cut by the kill, %d answered by the other api after a retry", cut, answered)
	if cut > 0 && answered == cut {
		o.caught++
	} else if answered < cut {
		o.problems = append(o.problems, fmt.Sprintf("replica-kill: %d of %d waiting reads cut by the kill were not answered after a retry", cut-answered, cut))
	}
	return nil
}

// readRequest reads request id from the api at addr with query, and returns its version.
func readRequest(ctx context.Context, addr, tok, id, query string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/requests/"+id+query, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", id, resp.Status)
	}
	var v struct {
		Version int64 `json:"version"`
	}
	return v.Version, json.NewDecoder(resp.Body).Decode(&v)
}
