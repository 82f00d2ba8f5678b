package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// loadCheck is how busy the machine was while nothing of the harness ran.
type loadCheck struct {
	When    string   `json:"when"`
	Seconds float64  `json:"seconds"`
	BusyPct float64  `json:"busy_pct"` // of all CPUs
	Top     []string `json:"top,omitempty"`
}

func cpuTotals() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal
			total += v
			if i != 3 && i != 4 {
				busy += v
			}
		}
	}
	return busy, total
}

// procTimes returns utime+stime (clock ticks) and the name of every process.
func procTimes() map[int]struct {
	ticks uint64
	comm  string
} {
	out := map[int]struct {
		ticks uint64
		comm  string
	}{}
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range ents {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		out[pid] = struct {
			ticks uint64
			comm  string
		}{u + st, s[open+1 : close]}
	}
	return out
}

// checkLoad measures how busy the machine is for d, and who keeps it busy.
func checkLoad(when string, d time.Duration) loadCheck {
	b0, t0 := cpuTotals()
	p0 := procTimes()
	time.Sleep(d)
	b1, t1 := cpuTotals()
	p1 := procTimes()
	lc := loadCheck{When: when, Seconds: d.Seconds()}
	if t1 > t0 {
		lc.BusyPct = 100 * float64(b1-b0) / float64(t1-t0)
	}
	type use struct {
		pid   int
		comm  string
		ticks uint64
	}
	var us []use
	for pid, v := range p1 {
		if old, ok := p0[pid]; ok && v.ticks > old.ticks {
			us = append(us, use{pid, v.comm, v.ticks - old.ticks})
		}
	}
	sort.Slice(us, func(i, j int) bool { return us[i].ticks > us[j].ticks })
	const hz = 100 // USER_HZ
	for i := 0; i < len(us) && i < 3; i++ {
		pct := 100 * float64(us[i].ticks) / hz / d.Seconds()
		if pct >= 2 {
			lc.Top = append(lc.Top, fmt.Sprintf("%s (pid %d) %.0f%% of a CPU", us[i].comm, us[i].pid, pct))
		}
	}
	return lc
}

// busyThreshold is the background load above which results are flagged.
const busyThreshold = 5.0

func (r *runner) noteLoad(when string) loadCheck {
	lc := checkLoad(when, time.Second)
	r.res.Load = append(r.res.Load, lc)
	if lc.BusyPct > busyThreshold {
		logf("WARNING: the machine is %.0f%% busy %s without the harness (%s): figures will be noisy", lc.BusyPct, when, strings.Join(lc.Top, ", "))
	}
	return lc
}

// waitIdle waits until the machine is idle, for at most d.
func (r *runner) waitIdle(d time.Duration) {
	end := time.Now().Add(d)
	for {
		lc := checkLoad("waiting", 2*time.Second)
		if lc.BusyPct <= busyThreshold {
			return
		}
		if time.Now().After(end) {
			logf("still %.0f%% busy after waiting %s (%s): going ahead", lc.BusyPct, d, strings.Join(lc.Top, ", "))
			return
		}
		logf("machine %.0f%% busy (%s): waiting for it to go idle", lc.BusyPct, strings.Join(lc.Top, ", "))
	}
}
