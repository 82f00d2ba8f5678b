package model

import (
	"math"
	"time"

	"github.com/iotrace/iotrace/internal/format"
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
	// CallbacksPerSec is the ep_poll_callback rate on the model's epoll
	// instances, set by the dashboard from the instances' counters; nil
	// when not measured. Derive leaves it nil.
	CallbacksPerSec *float64 `json:"-"`
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
	// Over the successful calls whose ready-list walk gave a length.
	if measured := d.Calls - d.Errors - min(d.ReadyListUnknown, d.Calls-d.Errors); measured > 0 {
		f.ReadyListPerCall = float64(d.ReadyListAtEntry.Sum) / float64(measured)
	}
	f.P50 = d.Latency.Quantile(0.5)
	f.P99 = d.Latency.Quantile(0.99)
	return f
}

// DeriveSyscalls computes the figures of the syscalls in ss that keep
// accepts (all if nil): Derive over the waiting ones, and CtlPerSec from the
// epoll_ctl calls among them. Every view that shows epoll_ctl/s derives it
// here.
func DeriveSyscalls(ss SyscallStats, keep func(Syscall) bool, dt time.Duration) Figures {
	f := Derive(ss.Total(func(sc Syscall) bool { return sc.Waits() && (keep == nil || keep(sc)) }), dt)
	if f.Seconds > 0 {
		ctl := ss.Total(func(sc Syscall) bool { return sc == EpollCtl && (keep == nil || keep(sc)) })
		f.CtlPerSec = float64(ctl.Calls) / f.Seconds
	}
	return f
}

// DeriveFamily is DeriveSyscalls over the syscalls of one model family.
func DeriveFamily(ss SyscallStats, fam Family, dt time.Duration) Figures {
	return DeriveSyscalls(ss, func(sc Syscall) bool { return sc.Family() == fam }, dt)
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

// Unit is what kind of quantity a figure is; the views print each unit in
// their own style (internal/format).
type Unit int

// The units of the figure table.
const (
	UnitCount    Unit = iota // a number of things, or things per second
	UnitRatio                // a mean per call
	UnitBytes                // bytes, or bytes per second
	UnitDuration             // nanoseconds
	UnitPercent              // a fraction, shown as a percentage
)

// Availability says whether a figure has a value for a set of calls.
type Availability int

const (
	// Available: the value is meaningful.
	Available Availability = iota
	// NotApplicable: the figure does not apply (no calls, no interval, or
	// a figure of another model), shown as "-".
	NotApplicable
	// Unavailable: it applies but was not measured (the probe mode cannot
	// see it, or the size was unknown), shown as "n/a".
	Unavailable
)

// View is a set of places a figure is shown in.
type View uint8

// The views that read the figure table.
const (
	InText      View = 1 << iota // `iotrace report`, `iotrace diff`
	InDashboard                  // the dashboard's comparison
	InDetail                     // the dashboard's detail view of a process or thread
	InAll       = InText | InDashboard | InDetail
)

// Figure is one comparison figure: its name, unit, meaning and how to read
// it from Figures. FigureTable is the one list of them; the dashboard, the
// text report and diff render it, and a figure added there appears in all
// of them.
type Figure struct {
	// Key is the figure's JSON name in Figures (`report --json`), or empty
	// for a figure not in that document.
	Key string
	// Label names the row; Detail, if any, is added in parentheses where
	// there is room (the text report); Short, if any, replaces Label in
	// the narrow detail view.
	Label, Detail, Short string
	Unit                 Unit
	// Meaning is one line for help texts; docs/metrics.md has the whole.
	Meaning string
	// Rate marks a per-second figure: it needs a period of known length.
	Rate bool
	// Epoll marks a figure that applies to the epoll model only.
	Epoll bool
	Where View
	// Inputs are the per-syscall counters (Counters' keys) the figure is
	// computed from: its provenance is the weakest of theirs.
	Inputs []string
	// value reads the figure; it is called only for a set with calls.
	value func(f *Figures) (float64, Availability)
}

func ok(v float64) (float64, Availability) { return v, Available }

// Value reads the figure from f, the figures of a set of calls of model
// fam ("" when the set mixes models).
func (g *Figure) Value(f *Figures, fam Family) (float64, Availability) {
	switch {
	case g.Rate && f.Seconds <= 0:
		return 0, NotApplicable
	case !g.Rate && f.Calls == 0: // a rate of 0 calls is still a rate
		return 0, NotApplicable
	case g.Epoll && fam != FamilyEpoll:
		return 0, NotApplicable
	}
	return g.value(f)
}

// SortValue is the figure's value for ordering rows, whether or not it
// applies (0 where it has none).
func (g *Figure) SortValue(f *Figures) float64 {
	v, _ := g.value(f)
	return v
}

// Format prints the figure in style s, as Value reads it: "-" where it
// does not apply, "n/a" where it applies but was not measured (ok is false
// for both), else the value in the style of its unit.
func (g *Figure) Format(f *Figures, fam Family, s format.Style) (text string, v float64, ok bool) {
	v, av := g.Value(f, fam)
	switch av {
	case NotApplicable:
		return "-", 0, false
	case Unavailable:
		return "n/a", 0, false
	}
	switch g.Unit {
	case UnitCount:
		return s.Count(v), v, true
	case UnitBytes:
		return s.Bytes(v), v, true
	case UnitDuration:
		return s.Duration(uint64(v)), v, true
	case UnitPercent:
		return s.Percent(v), v, true
	}
	return s.Ratio(v), v, true
}

// ShortLabel is the label for narrow places.
func (g *Figure) ShortLabel() string {
	if g.Short != "" {
		return g.Short
	}
	return g.Label
}

// FiguresIn returns the figures of the table shown in view v, in order.
func FiguresIn(v View) []*Figure {
	var out []*Figure
	for i := range FigureTable {
		if FigureTable[i].Where&v != 0 {
			out = append(out, &FigureTable[i])
		}
	}
	return out
}

// FigureByKey returns the figure with the given JSON key, or nil.
func FigureByKey(key string) *Figure {
	for i := range FigureTable {
		if FigureTable[i].Key == key {
			return &FigureTable[i]
		}
	}
	return nil
}

// FigureTable lists the comparison figures in display order.
var FigureTable = []Figure{
	{Key: "calls", Inputs: []string{"calls"}, Label: "calls", Unit: UnitCount, Where: InText,
		Meaning: "completed waiting calls in the period",
		value:   func(f *Figures) (float64, Availability) { return ok(float64(f.Calls)) }},
	{Key: "calls_per_sec", Inputs: []string{"calls"}, Label: "calls/s", Unit: UnitCount, Rate: true, Where: InAll,
		Meaning: "completed waiting calls per second",
		value:   func(f *Figures) (float64, Availability) { return ok(f.CallsPerSec) }},
	{Key: "fds_per_call", Inputs: []string{"fds_watched", "calls"}, Label: "fds watched/call", Short: "fds/call", Unit: UnitRatio, Where: InAll,
		Meaning: "mean size of the set of fds a call asked about (epoll: the interest list)",
		value: func(f *Figures) (float64, Availability) {
			if !f.FdsKnown {
				return 0, Unavailable
			}
			return ok(f.FdsPerCall)
		}},
	{Key: "fd_polls_per_call", Inputs: []string{"fd_polls", "calls"}, Label: "fd_polls/call", Unit: UnitRatio, Where: InAll,
		Meaning: "per-fd readiness checks the kernel made per call",
		value:   func(f *Figures) (float64, Availability) { return ok(f.FdPollsPerCall) }},
	{Key: "ready_per_call", Inputs: []string{"ready", "calls"}, Label: "ready/call", Unit: UnitRatio, Where: InAll,
		Meaning: "ready fds (events) a call returned, on average",
		value:   func(f *Figures) (float64, Availability) { return ok(f.ReadyPerCall) }},
	{Key: "efficiency", Inputs: []string{"ready", "fd_polls"}, Label: "efficiency", Detail: "ready/fd_polls", Unit: UnitPercent, Where: InAll,
		Meaning: "share of readiness checks that found something",
		value: func(f *Figures) (float64, Availability) {
			if !f.HasEfficiency {
				return 0, NotApplicable
			}
			return ok(f.Efficiency)
		}},
	{Key: "bytes_per_sec", Inputs: []string{"bytes_in", "bytes_out"}, Label: "bytes copied/s", Short: "bytes/s", Unit: UnitBytes, Rate: true, Where: InAll,
		Meaning: "bytes of fd sets, pollfds and events copied between user and kernel per second",
		value:   func(f *Figures) (float64, Availability) { return ok(f.BytesPerSec) }},
	{Key: "bytes_per_call", Inputs: []string{"bytes_in", "bytes_out", "calls"}, Label: "bytes copied/call", Short: "bytes/call", Unit: UnitBytes, Where: InAll,
		Meaning: "bytes of fd sets, pollfds and events copied between user and kernel per call",
		value:   func(f *Figures) (float64, Availability) { return ok(f.BytesPerCall) }},
	{Key: "wakeups_per_call", Inputs: []string{"wakeups", "calls"}, Label: "wakeups/call", Unit: UnitRatio, Where: InAll,
		Meaning: "times a call's thread was woken while it waited",
		value:   func(f *Figures) (float64, Availability) { return ok(f.WakeupsPerCall) }},
	{Key: "sleeps_per_call", Inputs: []string{"sleeps", "calls"}, Label: "sleeps/call", Unit: UnitRatio, Where: InAll,
		Meaning: "times a call's thread went to sleep voluntarily",
		value:   func(f *Figures) (float64, Availability) { return ok(f.SleepsPerCall) }},
	{Key: "blocked_fraction", Inputs: []string{"blocked_ns"}, Label: "blocked Σthreads", Unit: UnitPercent, Rate: true, Where: InDetail,
		Meaning: "time the threads spent off CPU inside calls, as a share of the period, summed over threads (above 100% with several)",
		value:   func(f *Figures) (float64, Availability) { return ok(f.BlockedFrac) }},
	{Key: "epoll_ctl_per_sec", Inputs: []string{"calls"}, Label: "epoll_ctl/s", Unit: UnitCount, Rate: true, Where: InDetail,
		Meaning: "epoll_ctl calls per second",
		value:   func(f *Figures) (float64, Availability) { return ok(f.CtlPerSec) }},
	{Key: "latency_p50_ns", Inputs: []string{"latency_ns"}, Label: "latency p50 <=", Unit: UnitDuration, Where: InText | InDashboard,
		Meaning: "upper bound of the median call duration (log2 histogram bucket)",
		value:   func(f *Figures) (float64, Availability) { return ok(float64(f.P50)) }},
	{Key: "latency_p99_ns", Inputs: []string{"latency_ns"}, Label: "latency p99 <=", Unit: UnitDuration, Where: InText | InDashboard,
		Meaning: "upper bound of the 99th percentile call duration (log2 histogram bucket)",
		value:   func(f *Figures) (float64, Availability) { return ok(float64(f.P99)) }},
	{Key: "ready_list_at_entry_per_call", Inputs: []string{"ready_list_at_entry", "calls"}, Label: "ready list/call", Detail: "epoll", Unit: UnitRatio, Epoll: true, Where: InText | InDashboard,
		Meaning: "mean length of the epoll ready list at entry, over successful calls",
		value:   func(f *Figures) (float64, Availability) { return ok(f.ReadyListPerCall) }},
	{Label: "ep_poll_callbacks/s", Unit: UnitCount, Rate: true, Epoll: true, Where: InDashboard,
		Meaning: "ep_poll_callback runs per second on the model's epoll instances (fentry and kprobe modes)",
		value: func(f *Figures) (float64, Availability) {
			if f.CallbacksPerSec == nil {
				return 0, Unavailable
			}
			return ok(*f.CallbacksPerSec)
		}},
}
