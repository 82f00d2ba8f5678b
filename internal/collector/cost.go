package collector

import (
	"fmt"
	"sort"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// EnableStats turns on the kernel's BPF run-time statistics while the
// collector lives, so that Cost can report what iotrace's own programs cost.
// The kernel then reads the clock twice per program run, a small overhead
// that only the dashboard asks for.
func (c *Collector) EnableStats() error {
	closer, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		c.statsWhy = fmt.Sprintf("BPF stats unavailable: %s", describe(err))
		return err
	}
	c.statsCloser = closer
	return nil
}

// Cost returns the cumulative run time and run count of iotrace's BPF
// programs, from the kernel's BPF stats; ok is false, with the reason, when
// the stats are off.
func (c *Collector) Cost() (runNs, runCount uint64, ok bool, why string) {
	if c.statsCloser == nil {
		why = c.statsWhy
		if why == "" {
			why = "BPF stats off"
		}
		return 0, 0, false, why
	}
	for _, p := range c.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			return 0, 0, false, "BPF stats: " + describe(err)
		}
		runNs += uint64(st.Runtime)
		runCount += st.RunCount
	}
	return runNs, runCount, true, ""
}

// ProgramCost is one BPF program's cumulative run time and run count.
type ProgramCost struct {
	Program     string
	RunNs, Runs uint64
}

// ProgramCosts is Cost per program, by the program's name, in name order.
func (c *Collector) ProgramCosts() ([]ProgramCost, bool, string) {
	if c.statsCloser == nil {
		_, _, _, why := c.Cost() // stats off: Cost says why, reading nothing
		return nil, false, why
	}
	out := make([]ProgramCost, 0, len(c.coll.Programs))
	for name, p := range c.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			return nil, false, "BPF stats: " + describe(err)
		}
		out = append(out, ProgramCost{Program: name, RunNs: uint64(st.Runtime), Runs: st.RunCount})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Program < out[j].Program })
	return out, true, ""
}
