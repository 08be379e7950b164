package faultsuite

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/medreq/pyxis/cabinet/cabsim"
	"github.com/medreq/pyxis/faultsuite/proxy"
	"github.com/medreq/pyxis/faultsuite/verdict"
	"github.com/medreq/pyxis/service"
)

// The faults of the scenarios (faultscenarios.go): each injects its fault, heals it, and
// returns how many it injected.

func injectWorkerKill(ctx context.Context, fs *stack, load *Load, _ *verdict.Result) (int, error) {
	for i := range 2 {
		if i > 0 {
			time.Sleep(4 * time.Second)
		}
		fs.logf("worker-kill: SIGKILL pyxis worker (pid %d)", fs.worker.cmd.Process.Pid)
		fs.worker.kill()
		time.Sleep(2 * time.Second)
		if err := fs.startWorker(ctx); err != nil {
			return i + 1, err
		}
		fs.logf("worker-kill: a new worker polls (pid %d)", fs.worker.cmd.Process.Pid)
	}
	return 2, nil
}

func injectPostgresRestart(ctx context.Context, fs *stack, _ *Load, res *verdict.Result) (int, error) {
	for _, mode := range []string{"fast", "immediate"} {
		fs.logf("postgres-restart: pg_ctl stop -m %s", mode)
		if err := fs.pg.Halt(ctx, mode); err != nil {
			return 0, err
		}
		// /readyz must say not ready while the database is down.
		notReady := 0
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if ok, _ := service.HTTPOK(ctx, "http://"+fs.apiAddr+"/readyz"); !ok {
				notReady++
			}
		}
		if notReady == 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("/readyz answered 200 throughout the outage (-m %s)", mode))
		}
		if err := fs.pg.Resume(ctx); err != nil {
			return 0, err
		}
		fs.logf("postgres-restart: started again (/readyz not ready %d times meanwhile)", notReady)
		time.Sleep(3 * time.Second)
	}
	return 2, nil
}

func injectTemporalRestart(_ context.Context, fs *stack, _ *Load, _ *verdict.Result) (int, error) {
	fs.logf("temporal-restart: stopping the Temporal server")
	if err := fs.restartTemporal(3 * time.Second); err != nil {
		return 0, err
	}
	fs.logf("temporal-restart: the Temporal server is back")
	return 1, nil
}

func injectCabinetOffline(down time.Duration) func(context.Context, *stack, *Load, *verdict.Result) (int, error) {
	return func(_ context.Context, fs *stack, _ *Load, _ *verdict.Result) (int, error) {
		fs.logf("cabinet offline for %s", down)
		if err := fs.sim.SetFaults(cabsim.Faults{Offline: true}); err != nil {
			return 0, err
		}
		time.Sleep(down)
		if err := fs.sim.SetFaults(cabsim.Faults{}); err != nil {
			return 0, err
		}
		fs.logf("cabinet back online")
		return 1, nil
	}
}

func injectAPIKill(ctx context.Context, fs *stack, load *Load, res *verdict.Result) (int, error) {
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * time.Second)
		}
		// Between accepting a POST and answering it: kill while POSTs are on the way.
		_ = waitFor(ctx, 20*time.Second, func() (bool, error) { return load.InFlightPosts() >= 2, nil }, "POSTs in flight")
		inflight := load.InFlightPosts()
		fs.logf("api-kill: SIGKILL pyxis api with %d POSTs on the way", inflight)
		fs.api.kill()
		if inflight == 0 {
			res.Notes = append(res.Notes, "api-kill: no POST was on the way at the kill")
		}
		time.Sleep(time.Second)
		if err := fs.startAPI(ctx); err != nil {
			return i + 1, err
		}
	}
	return 2, nil
}

func injectMLLPKill(ctx context.Context, fs *stack, _ *Load, res *verdict.Result) (int, error) {
	kills := 0
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * time.Second)
		}
		// Kill when the listener has acknowledged reports its applier has not applied yet.
		var pending atomic.Int64
		_ = waitFor(ctx, 30*time.Second, func() (bool, error) {
			n, _, err := fs.store.InboxBacklog(ctx)
			pending.Store(n)
			return err == nil && n > 0, nil
		}, "reports in the inbox")
		fs.logf("mllp-kill: SIGKILL pyxis api (MLLP listener and applier) with %d reports pending in the inbox", pending.Load())
		fs.api.kill()
		kills++
		res.Notes = append(res.Notes, fmt.Sprintf("mllp-kill: %d reports pending in the inbox at kill %d", pending.Load(), kills))
		time.Sleep(2 * time.Second)
		if err := fs.startAPI(ctx); err != nil {
			return kills, err
		}
	}
	return kills, nil
}

func injectPartition(_ context.Context, fs *stack, _ *Load, res *verdict.Result) (int, error) {
	fs.logf("partition: orders arrive, their ACKs are lost; reports are lost (6s)")
	fs.orders.Set(proxy.DropReplies, 0)
	fs.reports.Set(proxy.Blackhole, 0)
	time.Sleep(6 * time.Second)
	fs.orders.Set(proxy.Pass, 0)
	fs.reports.Set(proxy.Pass, 0)
	fs.orders.Cut()
	fs.reports.Cut()
	time.Sleep(2 * time.Second)
	fs.logf("partition: everything 3s late, past the 2s ACK timeout (8s)")
	fs.orders.Set(proxy.Delay, 3*time.Second)
	fs.reports.Set(proxy.Delay, 3*time.Second)
	time.Sleep(8 * time.Second)
	fs.orders.Set(proxy.Pass, 0)
	fs.reports.Set(proxy.Pass, 0)
	fs.logf("partition: healed (%d chunks dropped, %d delayed)", fs.orders.Dropped()+fs.reports.Dropped(), fs.orders.Delayed()+fs.reports.Delayed())
	res.Notes = append(res.Notes, fmt.Sprintf("partition: %d chunks dropped, %d delayed", fs.orders.Dropped()+fs.reports.Dropped(), fs.orders.Delayed()+fs.reports.Delayed()))
	return 2, nil
}
