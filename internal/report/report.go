// Package report renders snapshots as text tables, in the spirit of
// `perf trace -s` and bcc's syscount: one row per process and syscall.
package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iotrace/iotrace/internal/format"
	"github.com/iotrace/iotrace/internal/model"
)

// Row is one line of a table: a process's figures for one syscall.
type Row struct {
	Pid     int
	Comm    string
	Syscall model.Syscall
	Stats   *model.Stats
}

// Rows flattens a snapshot into rows, ordered by pid then syscall. When prev
// is not nil the rows hold the change since prev, and rows with no calls in
// between are left out.
func Rows(cur, prev *model.Snapshot) []Row {
	var rows []Row
	for _, p := range cur.Processes {
		var pp *model.Process
		if prev != nil {
			pp = prev.Process(p.Pid)
		}
		for _, sc := range p.Syscalls.Sorted() {
			s := p.Syscalls[sc]
			if pp != nil {
				s = s.Since(pp.Syscalls[sc])
			}
			if prev != nil && s.Calls == 0 {
				continue
			}
			rows = append(rows, Row{Pid: p.Pid, Comm: p.Comm, Syscall: sc, Stats: s})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Pid != rows[j].Pid {
			return rows[i].Pid < rows[j].Pid
		}
		return rows[i].Syscall < rows[j].Syscall
	})
	return rows
}

var header = []string{
	"PID", "COMM", "SYSCALL", "CALLS", "ERRORS", "TIMEOUTS", "READY", "FDS/CALL", "FD_POLLS",
	"BYTES_IN", "BYTES_OUT", "SLEEPS", "WAKEUPS", "BLOCKED", "AVG", "P50<=", "P99<=", "MAX",
}

// Table writes rows as an aligned table, as recorded in a run described by
// meta: estimated counts are marked "~" and a last line says by which
// model.
func Table(w io.Writer, rows []Row, meta *model.Meta) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	var fams []model.Family
	for _, r := range rows {
		s := r.Stats
		fam := r.Syscall.Family()
		fams = append(fams, fam)
		fds := FdsPerCall(s)
		if fds != "n/a" && s.Calls > 0 {
			fds = meta.Source("fds_watched", fam).Provenance.Mark() + fds
		}
		polls := meta.Source("fd_polls", fam).Provenance.Mark() + strconv.FormatUint(s.FdPolls, 10)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Pid, r.Comm, r.Syscall, s.Calls, s.Errors, s.Timeouts, s.Ready, fds, polls,
			s.BytesIn, s.BytesOut, s.Sleeps, s.Wakeups, format.FixedDuration(s.BlockedNs),
			format.FixedDuration(uint64(s.Latency.Mean())), format.FixedDuration(s.Latency.Quantile(0.5)),
			format.FixedDuration(s.Latency.Quantile(0.99)), format.FixedDuration(s.Latency.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return estimateNote(w, meta, []string{"fds_watched", "fd_polls"}, fams)
}

// FdsPerCall is the mean number of watched fds per call (over the calls
// whose epoll interest-list size was known), or "n/a" when none was.
func FdsPerCall(s *model.Stats) string {
	if s.Calls == 0 {
		return "0"
	}
	v, ok := s.FdsPerCall()
	if !ok {
		return "n/a"
	}
	return format.Tenths(v)
}

// Interval writes the change between two snapshots taken dt apart.
func Interval(w io.Writer, cur, prev *model.Snapshot, now time.Time, dt time.Duration) error {
	rows := Rows(cur, prev)
	fmt.Fprintf(w, "%s  interval %.2fs  processes %d  lost %d\n", now.Format("15:04:05"), dt.Seconds(), len(cur.Processes), cur.Meta.LostEvents)
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "  (no select/poll/epoll calls)")
		return err
	}
	return Table(w, rows, &cur.Meta)
}

// Summary writes the totals of a run, the epoll instances and what this
// probe mode could not measure.
func Summary(w io.Writer, s *model.Snapshot) error {
	m := s.Meta
	fmt.Fprintf(w, "iotrace summary: %s probes, kernel %s, %.2fs, %d process(es), lost %d\n",
		m.ProbeMode, m.Kernel, m.Ended.Sub(m.Started).Seconds(), len(s.Processes), m.LostEvents)
	if len(m.Lost) > 0 {
		names := make([]string, 0, len(m.Lost))
		for name, n := range m.Lost {
			if n > 0 {
				names = append(names, fmt.Sprintf("%s %d", name, n))
			}
		}
		sort.Strings(names)
		fmt.Fprintf(w, "lost: %s (docs/metrics.md, Losses)\n", strings.Join(names, ", "))
	}
	if m.ProbeNotes != "" {
		fmt.Fprintf(w, "probes: %s\n", m.ProbeNotes)
	}
	if len(m.Command) > 0 && m.ExitStatus != nil {
		fmt.Fprintf(w, "command %q exited with status %d\n", strings.Join(m.Command, " "), *m.ExitStatus)
	}
	if err := Table(w, Rows(s, nil), &s.Meta); err != nil {
		return err
	}
	for _, p := range s.Processes {
		for _, e := range p.EpollInstances {
			fmt.Fprintf(w, "pid %d epfd %d: registered %s, ctl add %d mod %d del %d, ep_poll_callbacks %s (already queued %s)\n",
				p.Pid, e.Epfd, optInt(e.Registered), e.Ctl.Add, e.Ctl.Mod, e.Ctl.Del,
				optUint(e.EpPollCallbacks), optUint(e.CallbacksAlreadyQueued))
		}
		if p.Exited {
			fmt.Fprintf(w, "pid %d (%s) exited during the trace\n", p.Pid, p.Comm)
		}
	}
	// Metrics that share a reason are listed together.
	byReason := map[string][]string{}
	for k, why := range m.Unavailable {
		byReason[why] = append(byReason[why], k)
	}
	reasons := make([]string, 0, len(byReason))
	for why, ks := range byReason {
		sort.Strings(ks)
		reasons = append(reasons, why)
	}
	sort.Slice(reasons, func(i, j int) bool { return byReason[reasons[i]][0] < byReason[reasons[j]][0] })
	for _, why := range reasons {
		fmt.Fprintf(w, "unavailable: %s: %s\n", strings.Join(byReason[why], ", "), why)
	}
	return nil
}

func optInt(p *int64) string {
	if p == nil {
		return "unknown"
	}
	return fmt.Sprint(*p)
}

func optUint(p *uint64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprint(*p)
}
