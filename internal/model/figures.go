package model

import (
	"math"
	"time"
)

// Figures are the comparison figures for a set of waiting calls over a
// period: what the dashboard, `iotrace report` and `iotrace diff` show side
// by side for each model. Per-call figures are meaningful only when Calls > 0.
type Figures struct {
	Calls       uint64  `json:"calls"`   // calls in the period
	Seconds     float64 `json:"seconds"` // period length
	CallsPerSec float64 `json:"calls_per_sec"`
	// FdsPerCall is the mean interest set size over the calls whose size
	// was known; FdsKnown is false when no call's was (docs/metrics.md).
	FdsPerCall     float64 `json:"fds_per_call"`
	FdsKnown       bool    `json:"fds_known"`
	FdPollsPerCall float64 `json:"fd_polls_per_call"`
	ReadyPerCall   float64 `json:"ready_per_call"`
	// Efficiency is ready / fd_polls: the share of readiness checks that
	// found something; near 1 for epoll, about K/N for select and poll with
	// K of N fds active. HasEfficiency is false without checks.
	Efficiency     float64 `json:"efficiency"`
	HasEfficiency  bool    `json:"has_efficiency"`
	BytesPerSec    float64 `json:"bytes_per_sec"`
	BytesPerCall   float64 `json:"bytes_per_call"`
	WakeupsPerCall float64 `json:"wakeups_per_call"`
	SleepsPerCall  float64 `json:"sleeps_per_call"`
	CtlPerSec      float64 `json:"epoll_ctl_per_sec"`
	// P50 and P99 are upper bounds (ns) from the period's histogram.
	P50     uint64    `json:"latency_p50_ns"`
	P99     uint64    `json:"latency_p99_ns"`
	Latency Histogram `json:"-"`
	// ReadyListPerCall is the mean epoll ready-list length at entry over
	// successful calls.
	ReadyListPerCall float64 `json:"ready_list_at_entry_per_call"`
	// BlockedFrac is the share of the period spent off CPU inside calls
	// (can exceed 1 with several threads).
	BlockedFrac float64 `json:"blocked_fraction"`
}

// Derive computes the figures of d (waiting syscalls only) over dt; rates
// are 0 when dt is 0.
func Derive(d *Stats, dt time.Duration) Figures {
	f := Figures{Seconds: dt.Seconds(), FdsKnown: true}
	if d == nil {
		return f
	}
	f.Calls = d.Calls
	f.Latency = d.Latency
	if f.Seconds > 0 {
		f.CallsPerSec = float64(d.Calls) / f.Seconds
		f.BytesPerSec = float64(d.BytesIn+d.BytesOut) / f.Seconds
		f.BlockedFrac = float64(d.BlockedNs) / 1e9 / f.Seconds
	}
	if d.FdPolls > 0 {
		f.HasEfficiency = true
		// select counts an fd once per set it is ready in, so ready can
		// exceed the checks made: cap at 100%.
		f.Efficiency = math.Min(1, float64(d.Ready)/float64(d.FdPolls))
	}
	if d.Calls == 0 {
		return f
	}
	n := float64(d.Calls)
	f.FdsPerCall, f.FdsKnown = d.FdsPerCall()
	f.FdPollsPerCall = float64(d.FdPolls) / n
	f.ReadyPerCall = float64(d.Ready) / n
	f.BytesPerCall = float64(d.BytesIn+d.BytesOut) / n
	f.WakeupsPerCall = float64(d.Wakeups) / n
	f.SleepsPerCall = float64(d.Sleeps) / n
	if d.Errors < d.Calls {
		f.ReadyListPerCall = float64(d.ReadyListAtEntry.Sum) / float64(d.Calls-d.Errors)
	}
	f.P50 = d.Latency.Quantile(0.5)
	f.P99 = d.Latency.Quantile(0.99)
	return f
}

// FamilyTotals sums the waiting syscalls of every process by model family.
func (s *Snapshot) FamilyTotals() map[Family]*Stats {
	out := map[Family]*Stats{}
	for _, p := range s.Processes {
		for f, st := range p.Syscalls.ByFamily() {
			if out[f] == nil {
				out[f] = &Stats{}
			}
			out[f].Add(st)
		}
	}
	return out
}
