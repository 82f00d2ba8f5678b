package model

// Figures are the comparison figures derived from a Stats over a period:
// what the dashboard, reports and diffs show side by side for each model.
type Figures struct {
	Calls          uint64  `json:"calls"`
	CallsPerSec    float64 `json:"calls_per_sec"`
	FdsPerCall     float64 `json:"fds_per_call"`
	FdsUnknown     bool    `json:"fds_per_call_unknown,omitempty"`
	FdPollsPerCall float64 `json:"fd_polls_per_call"`
	ReadyPerCall   float64 `json:"ready_per_call"`
	// Efficiency is ready / fd_polls: the share of readiness checks that
	// found something. Near 1 for epoll; about K/N for select and poll with
	// K of N fds active. Zero when nothing was checked.
	Efficiency       float64 `json:"efficiency"`
	BytesPerCall     float64 `json:"bytes_per_call"`
	BytesPerSec      float64 `json:"bytes_per_sec"`
	WakeupsPerCall   float64 `json:"wakeups_per_call"`
	SleepsPerCall    float64 `json:"sleeps_per_call"`
	LatencyP50       uint64  `json:"latency_p50_ns"`
	LatencyP99       uint64  `json:"latency_p99_ns"`
	ReadyListPerCall float64 `json:"ready_list_at_entry_per_call"`
	ErrorsPerCall    float64 `json:"errors_per_call"`
}

func per(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Derive computes the figures of s over a period of `seconds` (0: rates are
// left at 0).
func Derive(s *Stats, seconds float64) Figures {
	f := Figures{
		Calls:            s.Calls,
		FdsPerCall:       per(s.FdsWatched, s.Calls),
		FdsUnknown:       s.FdsWatchedUnknown > 0,
		FdPollsPerCall:   per(s.FdPolls, s.Calls),
		ReadyPerCall:     per(s.Ready, s.Calls),
		Efficiency:       per(s.Ready, s.FdPolls),
		BytesPerCall:     per(s.BytesIn+s.BytesOut, s.Calls),
		WakeupsPerCall:   per(s.Wakeups, s.Calls),
		SleepsPerCall:    per(s.Sleeps, s.Calls),
		LatencyP50:       s.Latency.Quantile(0.5),
		LatencyP99:       s.Latency.Quantile(0.99),
		ReadyListPerCall: per(s.ReadyListAtEntry.Sum, s.Calls),
		ErrorsPerCall:    per(s.Errors, s.Calls),
	}
	if f.FdsUnknown {
		f.FdsPerCall = 0
	}
	if f.Efficiency > 1 {
		// select counts an fd once per set it is ready in, so ready can
		// exceed the fds checked; efficiency is capped at 100%.
		f.Efficiency = 1
	}
	if seconds > 0 {
		f.CallsPerSec = float64(s.Calls) / seconds
		f.BytesPerSec = float64(s.BytesIn+s.BytesOut) / seconds
	}
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
