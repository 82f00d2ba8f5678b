package collector

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/iotrace/iotrace/internal/model"
)

// The run's filters beyond the target processes: --tid (some threads of a
// process), --syscalls (some of the traced calls), and the existing
// descendants of --pid targets.

// filters is what the snapshot and the per-call events keep.
type filters struct {
	// tids maps a process named by --tid to the threads to keep; a
	// process not in it keeps every thread.
	tids map[int]map[int]bool
	// syscalls, when set, are the only syscalls reported.
	syscalls map[model.Syscall]bool
}

func (f *filters) keep(tgid, tid int, sc model.Syscall) bool {
	if f.syscalls != nil && !f.syscalls[sc] {
		return false
	}
	if ts, ok := f.tids[tgid]; ok && !ts[tid] {
		return false
	}
	return true
}

// newFilters resolves opts.Tids to their processes (returned, to be added
// as targets) and opts.Syscalls to a set.
func newFilters(opts Options) (filters, []int, error) {
	var f filters
	var tgids []int
	for _, tid := range opts.Tids {
		if tid <= 0 {
			return f, nil, fmt.Errorf("invalid tid %d", tid)
		}
		tgid, err := resolveTgid(tid)
		if err != nil {
			return f, nil, err
		}
		if err := refuseKernelThread(tgid); err != nil {
			return f, nil, err
		}
		if f.tids == nil {
			f.tids = map[int]map[int]bool{}
		}
		if f.tids[tgid] == nil {
			f.tids[tgid] = map[int]bool{}
			tgids = append(tgids, tgid)
		}
		f.tids[tgid][tid] = true
	}
	if len(opts.Syscalls) > 0 {
		f.syscalls = map[model.Syscall]bool{}
		for _, sc := range opts.Syscalls {
			f.syscalls[sc] = true
		}
	}
	return f, tgids, nil
}

// wantsSyscall reports whether the programs of sc (a tracedSyscalls name)
// must be loaded: every syscall without --syscalls; with it, the chosen
// ones, and epoll_ctl and epoll_create for any epoll wait, whose interest
// list sizes come from them.
func (c *Collector) wantsSyscall(name string) bool {
	if c.filter.syscalls == nil {
		return true
	}
	if sc, ok := model.ParseSyscall(name); ok && (c.filter.syscalls[sc] || sc != model.EpollCtl) {
		return c.filter.syscalls[sc]
	}
	for sc := range c.filter.syscalls {
		if sc.Family() == model.FamilyEpoll && sc.Waits() {
			return true // epoll_ctl, epoll_create, epoll_create1
		}
	}
	return false
}

// noteFiltered records in c.unavailable the syscalls --syscalls left out,
// so that a trace says they were not traced rather than showing none.
func (c *Collector) noteFiltered() {
	if c.filter.syscalls == nil {
		return
	}
	var chosen []string
	for sc := model.Syscall(0); sc < model.NumSyscalls; sc++ {
		if c.filter.syscalls[sc] {
			chosen = append(chosen, sc.String())
		}
	}
	why := "not traced: --syscalls " + strings.Join(chosen, ",")
	for sc := model.Syscall(0); sc < model.NumSyscalls; sc++ {
		if !c.filter.syscalls[sc] {
			c.unavailable[sc.String()] = why
		}
	}
}

// filterCalls wraps opts.OnCall so that it gets only the kept calls.
func (c *Collector) filterCalls() {
	on := c.opts.OnCall
	if on == nil || (c.filter.syscalls == nil && c.filter.tids == nil) {
		return
	}
	c.opts.OnCall = func(ev model.CallEvent) {
		if c.filter.keep(ev.Pid, ev.Tid, ev.Syscall) {
			on(ev)
		}
	}
}

// ParseSyscalls reads a --syscalls list: syscall names, %select, %poll or
// %epoll for a model's calls, and an optional strace-style "trace=" prefix.
func ParseSyscalls(list []string) ([]model.Syscall, error) {
	seen := map[model.Syscall]bool{}
	var out []model.Syscall
	add := func(sc model.Syscall) {
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	for _, s := range list {
		s = strings.TrimPrefix(strings.TrimSpace(s), "trace=")
		if fam, ok := strings.CutPrefix(s, "%"); ok {
			if !slices.Contains(model.Families, model.Family(fam)) {
				return nil, fmt.Errorf("--syscalls: unknown model %q (want %%select, %%poll or %%epoll)", s)
			}
			for sc := model.Syscall(0); sc < model.NumSyscalls; sc++ {
				if string(sc.Family()) == fam {
					add(sc)
				}
			}
			continue
		}
		sc, ok := model.ParseSyscall(s)
		if !ok {
			names := make([]string, model.NumSyscalls)
			for i := range names {
				names[i] = model.Syscall(i).String()
			}
			return nil, fmt.Errorf("--syscalls: %q is not a traced syscall (want %s, or %%select, %%poll, %%epoll)", s, strings.Join(names, ", "))
		}
		add(sc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--syscalls: the list is empty")
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// pfKthread is PF_KTHREAD (include/linux/sched.h), in /proc/PID/stat's
// flags field.
const pfKthread = 0x00200000

// refuseKernelThread returns an error when pid is a kernel thread: it
// makes no system calls, so tracing it would silently show nothing.
func refuseKernelThread(pid int) error {
	st, ok := readStat(pid)
	if !ok || st.flags&pfKthread == 0 {
		return nil
	}
	return fmt.Errorf("pid %d is a kernel thread (%s): it makes no select, poll or epoll calls", pid, st.comm)
}

type procStat struct {
	comm  string
	ppid  int
	flags uint64
}

// readStat reads the name, parent and flags from /proc/PID/stat (proc(5):
// "pid (comm) state ppid ... flags" with flags the 9th field).
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	return parseStat(string(b))
}

func parseStat(s string) (procStat, bool) {
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return procStat{}, false
	}
	f := strings.Fields(s[close+1:]) // state ppid pgrp session tty_nr tpgid flags ...
	if len(f) < 7 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	flags, err2 := strconv.ParseUint(f[6], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, false
	}
	return procStat{comm: s[open+1 : close], ppid: ppid, flags: flags}, true
}

// descendants returns the live descendants of each of roots (processes,
// from every /proc/PID/stat's parent), each list sorted.
func descendants(roots []int) map[int][]int {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	out := map[int][]int{}
	for _, root := range roots {
		var all []int
		queue := append([]int(nil), children[root]...)
		seen := map[int]bool{root: true}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if seen[p] {
				continue
			}
			seen[p] = true
			all = append(all, p)
			queue = append(queue, children[p]...)
		}
		if len(all) > 0 {
			sort.Ints(all)
			out[root] = all
		}
	}
	return out
}

// addDescendants makes the existing descendants of the --pid targets
// targets too (unless NoFollow), after the targets themselves, so that a
// child forked in between is followed by the kernel side. It records them
// for ExistingDescendants.
func (c *Collector) addDescendants(tgids []int) error {
	c.descendants = descendants(tgids)
	if c.opts.NoFollow {
		return nil
	}
	for _, root := range tgids {
		for _, pid := range c.descendants[root] {
			if err := c.AddTarget(pid); err != nil && processAlive(pid) {
				return err
			}
		}
	}
	return nil
}

// ExistingDescendants returns, per --pid target with children when the run
// started, those descendants: traced unless Options.NoFollow.
func (c *Collector) ExistingDescendants() map[int][]int { return c.descendants }

// TargetPids returns the processes that are targets and have not exited.
func (c *Collector) TargetPids() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for pid, p := range c.procs {
		if !p.exited {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}
