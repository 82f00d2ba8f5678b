package main

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/pflag"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/exporter"
)

// metricsOptions are the Prometheus endpoint's flags (--listen ...).
type metricsOptions struct {
	listen    string
	labels    []string
	maxSeries int
	grace     time.Duration
}

func (m *metricsOptions) bindFlags(f *pflag.FlagSet) {
	f.StringVar(&m.listen, "listen", "", "serve Prometheus metrics on `ADDR` (host:port, e.g. :9464 or 127.0.0.1:9464): /metrics, /healthz; tables are then not printed")
	f.StringSliceVar(&m.labels, "metrics-labels", nil, "with --listen: also label per-process series with these (pid, tid, cgroup; each multiplies the series; cgroup is on with --cgroup)")
	f.IntVar(&m.maxSeries, "metrics-max-series", exporter.DefaultMaxSeries, "with --listen: at most `N` per-process series; the rest go to comm=\"(overflow)\" and are counted")
	f.DurationVar(&m.grace, "metrics-grace", exporter.DefaultGrace, "with --listen: keep an exited process's pid- or tid-labelled series this long before folding them into pid=\"exited\"")
}

func (m *metricsOptions) validate() error {
	if m.listen == "" {
		if len(m.labels) > 0 {
			return fmt.Errorf("--metrics-labels labels the --listen endpoint's series: it needs --listen ADDR")
		}
		return nil
	}
	if _, err := net.ResolveTCPAddr("tcp", m.listen); err != nil {
		return fmt.Errorf("--listen %q: want host:port, e.g. :9464 or 127.0.0.1:9464", m.listen)
	}
	if _, err := exporter.ParseLabels(m.labels); err != nil {
		return err
	}
	if m.maxSeries < 1 {
		return fmt.Errorf("--metrics-max-series must be positive, got %d", m.maxSeries)
	}
	if m.grace < 0 {
		return fmt.Errorf("--metrics-grace must not be negative, got %s", m.grace)
	}
	return nil
}

// headless: with --listen, Prometheus is the output; no tables are printed
// every interval (the dashboard still shows on a terminal without --no-tui,
// and the summary is still printed at the end).
func (r *session) headless() bool { return r.o.metrics.listen != "" }

// listen starts the Prometheus endpoint, if --listen asks for one, once the
// collector is attached; the caller closes what it returns.
func (r *session) listen(stderr io.Writer) (io.Closer, error) {
	m := r.o.metrics
	if m.listen == "" {
		return io.NopCloser(nil), nil
	}
	lb, _ := exporter.ParseLabels(m.labels)
	// A run that targets a cgroup is about the containers or units in it:
	// their series are told apart by cgroup.
	lb.Cgroup = lb.Cgroup || r.o.cgroup != ""
	if _, _, ok, _ := r.col.Cost(); !ok {
		// iotrace_bpf_run_seconds_total needs the kernel's BPF stats; when
		// they cannot be had, iotrace_figure_unavailable says why.
		_ = r.col.EnableStats()
	}
	mode, _ := r.col.Mode()
	e := exporter.New(r.col, exporter.Options{
		Labels: lb, MaxSeries: m.maxSeries, Grace: m.grace, Cost: programCosts(r.col), Version: versionString(),
		ProbeMode: string(mode),
	})
	srv, err := exporter.Listen(m.listen, e)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "iotrace: serving metrics on http://%s/metrics\n", srv.Addr())
	return srv, nil
}

// programCosts gives the exporter the collector's cost per BPF program.
func programCosts(col *collector.Collector) exporter.CostFunc {
	return func() ([]exporter.ProgramCost, bool, string) {
		progs, ok, why := col.ProgramCosts()
		out := make([]exporter.ProgramCost, len(progs))
		for i, p := range progs {
			out[i] = exporter.ProgramCost{Program: p.Program, RunNs: p.RunNs, Runs: p.Runs}
		}
		return out, ok, why
	}
}
