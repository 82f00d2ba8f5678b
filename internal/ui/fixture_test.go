package ui

import (
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

// fixture returns two snapshots one second apart: "server" (pid 100) polls
// 1000 fds, "nginx" (pid 200, threads 200 and 201) waits in epoll_wait on an
// instance of 1000 fds. callbacks=false models tracepoint mode.
func fixture(callbacks bool) []*model.Snapshot {
	mk := func(k uint64) *model.Snapshot {
		poll := mkStats(1000*k, 1000, 2_000_000*k, 1000*k, 8_000_000*k, 2_000_000*k, 1000*k, 1000*k, latency(1000*k, 5000))
		ew := mkStats(500*k, 1000, 1500*k, 1500*k, 0, 18000*k, 500*k, 500*k, latency(500*k, 100_000))
		ew.ReadyListAtEntry = model.MaxSum{Sum: 1000 * k, Max: 4}
		ctl := &model.Stats{Calls: 1000, FdPolls: 1000, BytesIn: 12000}
		nginx := proc(200, "nginx", model.SyscallStats{model.EpollWait: ew, model.EpollCtl: ctl},
			&model.Thread{Tid: 200, Comm: "nginx", Syscalls: model.SyscallStats{model.EpollCtl: ctl}},
			&model.Thread{Tid: 201, Comm: "nginx-worker", Syscalls: model.SyscallStats{model.EpollWait: ew}},
		)
		e := model.EpollInstance{Epfd: 7, Registered: i64(1000), Ctl: model.CtlCounts{Add: 1000}}
		meta := model.Meta{Kernel: "6.18.0-test", ProbeMode: "fentry", Targets: []string{"pid 100", "pid 200"}}
		if callbacks {
			e.EpPollCallbacks = u64(100 + 3000*(k-1))
			e.CallbacksAlreadyQueued = u64(0)
			e.CallbacksIgnored = u64(0)
		} else {
			meta.ProbeMode = "tracepoint"
			meta.Unavailable = map[string]string{
				"ep_poll_callbacks":        "ep_poll_callback is a kernel function: it needs fentry or kprobe mode",
				"callbacks_already_queued": "ep_poll_callback is a kernel function: it needs fentry or kprobe mode",
				"callbacks_ignored":        "ep_poll_callback is a kernel function: it needs fentry or kprobe mode",
			}
		}
		nginx.EpollInstances = []model.EpollInstance{e}
		return &model.Snapshot{Meta: meta, Processes: []*model.Process{
			proc(100, "server", model.SyscallStats{model.Poll: poll}),
			nginx,
		}}
	}
	return []*model.Snapshot{mk(1), mk(3)}
}

// demoFixture returns two snapshots and the matching demo models: select
// (pid 301, which also has Go-runtime epoll_pwait calls that must not count
// in its column), poll (302) and epoll-lt (303, whose server thread 304 is
// named, and whose runtime epoll_pwait calls on thread 303 must not count
// either), in tracepoint mode.
func demoFixture() ([]*model.Snapshot, [][]DemoModel) {
	mk := func(k uint64) (*model.Snapshot, []DemoModel) {
		sel := mkStats(100*k, 64, 6400*k, 100*k, 2*3*8*k*100, 2*3*8*k*100, 100*k, 100*k, latency(100*k, 20_000))
		rt := mkStats(7*k, 1, 7*k, 7*k, 0, 84*k, 7*k, 7*k)
		pol := mkStats(200*k, 64, 12800*k, 200*k, 64*8*200*k, 64*2*200*k, 200*k, 200*k, latency(200*k, 10_000))
		ep := mkStats(400*k, 64, 800*k, 800*k, 0, 12*800*k, 400*k, 400*k, latency(400*k, 3_000))
		ep.ReadyListAtEntry = model.MaxSum{Sum: 1200 * k, Max: 5}
		// The Go runtime's own epoll_pwait calls, on another thread.
		rt2 := mkStats(50*k, 3, 50*k, 50*k, 0, 600*k, 50*k, 50*k, latency(50*k, 1_000_000))
		epProc := proc(303, "iotrace-epoll", model.SyscallStats{model.EpollWait: ep, model.EpollPwait: rt2},
			&model.Thread{Tid: 303, Comm: "iotrace-epoll", Syscalls: model.SyscallStats{model.EpollPwait: rt2}},
			&model.Thread{Tid: 304, Comm: "iotrace-epoll", Syscalls: model.SyscallStats{model.EpollWait: ep}})
		snap := &model.Snapshot{
			Meta: model.Meta{ProbeMode: "tracepoint", Targets: []string{"demo"},
				Unavailable: map[string]string{"ep_poll_callbacks": "needs fentry or kprobe"}},
			Processes: []*model.Process{
				proc(301, "iotrace-select", model.SyscallStats{model.Pselect6: sel, model.EpollPwait: rt}),
				proc(302, "iotrace-poll", model.SyscallStats{model.Poll: pol}),
				epProc,
			},
		}
		snap.Processes[2].EpollInstances = []model.EpollInstance{{Epfd: 5, Registered: i64(64), Ctl: model.CtlCounts{Add: 64}}}
		el := time.Duration(k) * time.Second
		models := []DemoModel{
			{Name: "select", Pid: 301, Status: "select cannot watch fd >= 1024 (FD_SETSIZE)",
				Truth: Truth{Calls: 100 * k, ReadyEvents: 100 * k, Messages: 100 * k, Elapsed: el}},
			{Name: "poll", Pid: 302, Truth: Truth{Calls: 200 * k, ReadyEvents: 200 * k, Messages: 250 * k, Elapsed: el}},
			{Name: "epoll-lt", Pid: 303, Tid: 304, Truth: Truth{Calls: 400 * k, ReadyEvents: 800 * k, Messages: 900 * k, Elapsed: el}},
		}
		return snap, models
	}
	s1, m1 := mk(1)
	s2, m2 := mk(2)
	return []*model.Snapshot{s1, s2}, [][]DemoModel{m1, m2}
}
