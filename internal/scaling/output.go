package scaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/iotrace/iotrace/internal/format"
)

var tableHeader = []string{
	"MODEL", "FDS", "CALLS", "MSGS", "TIME", "NS/CALL", "MSGS/S", "CPU/MSG",
	"FDS/CALL", "FD_POLLS/CALL", "READY/CALL", "IN/CALL", "OUT/CALL", "WAKEUPS/CALL", "KCPU/CALL",
}

// WriteTable writes one row per cell. The columns after CPU/MSG are the
// kernel's figures per call from the traced run ("-" without them);
// KCPU/CALL is the time on CPU inside the call.
func WriteTable(w io.Writer, r *Report) error {
	p := r.Params
	run := fmt.Sprintf("%d messages", p.Messages)
	if p.Duration > 0 {
		run = p.Duration.String()
	}
	kernel := "no kernel figures"
	if r.Tracer != nil {
		kernel = "kernel figures per call from a separate traced run (" + r.Tracer.ProbeMode + " probes)"
	}
	fmt.Fprintf(w, "iotrace bench: K=%d active of N connections, %d-byte messages as fast as possible, %s per cell; %s\n",
		p.Active, p.Size, run, kernel)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t")+"\t")
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Skipped != "" {
			// The reason goes under the table: a long cell would stretch
			// its column.
			fmt.Fprintf(tw, "%s\t%d\tskipped\t%s\n", c.Model, c.FDs, strings.Repeat("-\t", len(tableHeader)-3))
			continue
		}
		cpu := "-"
		if c.CPUNsPerMsg != nil {
			cpu = format.FixedNs(*c.CPUNsPerMsg)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t", c.Model, c.FDs, c.Calls, c.Messages,
			format.FixedDuration(uint64(c.ElapsedNS)), format.FixedNs(c.NsPerCall), format.FixedCount(c.MsgsPerSec), cpu)
		if k := c.Kernel; k != nil && k.Calls > 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", format.PerCall(k.FdsWatchedPerCall), format.PerCall(k.FdPollsPerCall),
				format.PerCall(k.ReadyPerCall), format.PerCall(k.BytesInPerCall), format.PerCall(k.BytesOutPerCall), format.PerCall(k.WakeupsPerCall), format.FixedNs(k.CPUNsPerCall))
		} else {
			none := "-"
			if Unmeasured(c.Model) != "" && c.KernelUnavailable != "--no-trace" {
				none = "n/a" // unavailable: the tracer does not measure this model
			}
			fmt.Fprintf(tw, "%s\n", strings.Repeat(none+"\t", 7))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range r.Cells {
		if c.Skipped != "" {
			fmt.Fprintf(w, "skipped %s N=%d: %s\n", c.Model, c.FDs, c.Skipped)
		} else if c.CPUUnavailable != "" {
			fmt.Fprintf(w, "no CPU/MSG for %s N=%d: %s\n", c.Model, c.FDs, c.CPUUnavailable)
		}
	}
	// Say once why kernel figures are missing, rather than on every row.
	var reasons []string
	cells := map[string][]string{}
	measured := 0
	for _, c := range r.Cells {
		if c.Skipped != "" {
			continue
		}
		measured++
		if why := c.KernelUnavailable; why != "" {
			if cells[why] == nil {
				reasons = append(reasons, why)
			}
			cells[why] = append(cells[why], fmt.Sprintf("%s N=%d", c.Model, c.FDs))
		}
	}
	for _, why := range reasons {
		if len(cells[why]) == measured {
			fmt.Fprintf(w, "no kernel figures: %s\n", why)
		} else {
			fmt.Fprintf(w, "no kernel figures for %s: %s\n", strings.Join(cells[why], ", "), why)
		}
	}
	return nil
}

// WriteSummary writes the crossover, under the table.
func WriteSummary(w io.Writer, r *Report) error {
	x := r.Crossover
	m := r.Machine
	fmt.Fprintf(w, "\ncrossover on this machine (%d CPUs, Linux %s), by ns per call (wall time / calls, untraced):\n", m.CPUs, m.Kernel)
	if x == nil {
		_, err := fmt.Fprintln(w, "  nothing to compare: it needs select or poll and an epoll model measured at the same N")
		return err
	}
	for _, mc := range x.Models {
		fmt.Fprintf(w, "  %s vs %s: ", mc.Model, x.Baseline)
		switch {
		case mc.Crossover == nil:
			fmt.Fprintf(w, "%s is never cheaper per call (N=%s)", x.Baseline, joinInts(mc.ComparedFDs))
		case mc.CheaperFrom != nil && *mc.CheaperFrom == *mc.Crossover:
			fmt.Fprintf(w, "%s is cheaper per call from N=%d on (of N=%s)", x.Baseline, *mc.Crossover, joinInts(mc.ComparedFDs))
		default:
			fmt.Fprintf(w, "%s is cheaper per call at N=%s (of N=%s)", x.Baseline, joinInts(mc.BaselineCheaperAt), joinInts(mc.ComparedFDs))
		}
		fmt.Fprintf(w, "; at N=%d %s %s vs %s %s per call = %sx", mc.LargestFDs, mc.Model, format.FixedNs(mc.NsPerCall),
			x.Baseline, format.FixedNs(mc.BaselineNsPerCall), format.Ratio(mc.Ratio))
		if mc.LargestRequested > 0 {
			fmt.Fprintf(w, " (N=%d not measured for both)", mc.LargestRequested)
		}
		fmt.Fprintln(w)
		if mc.KernelRatio != nil {
			fmt.Fprintf(w, "    CPU inside the call (traced): at N=%d %s %s vs %s %s = %sx\n", *mc.KernelFDs,
				mc.Model, format.FixedNs(mc.KernelCPUNsPerCall), x.Baseline, format.FixedNs(mc.KernelBaselineCPUNs), format.Ratio(*mc.KernelRatio))
		}
	}
	for _, mc := range x.Models {
		if mc.KernelRatio != nil {
			fmt.Fprintln(w, "  (wall time per call includes sleeping until data arrives, and a call that finds more waiting reads more;")
			fmt.Fprintln(w, "   CPU inside the call is the kernel's own work per call, the probes' cost included)")
			break
		}
	}
	_, err := fmt.Fprintf(w, "  reference: %s\n", x.Reference)
	return err
}

// WriteJSON writes r as an indented JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CheckWritable fails, with a one-line error naming flag, when a file
// cannot be written at path. It leaves no file behind that was not there.
func CheckWritable(flag, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("cannot write %s %s: is a directory", flag, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("cannot write %s %s: %v", flag, path, unwrapPath(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// WriteFile writes path in full or not at all: write runs on a temporary
// file beside it, which then replaces path.
func WriteFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %v", path, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(f.Name(), path)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
