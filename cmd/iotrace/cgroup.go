package main

import (
	"errors"

	"github.com/spf13/pflag"
)

// addCgroupFlag registers --cgroup: the processes of a container or a
// systemd unit, by its cgroup v2 directory.
func addCgroupFlag(f *pflag.FlagSet, o *traceOptions) {
	f.StringVar(&o.cgroup, "cgroup", "", "trace the processes in cgroup v2 `PATH` and below it, now and later (/sys/fs/cgroup/system.slice/nginx.service, or relative to the cgroup v2 mount)")
}

// validateCgroup checks --cgroup against the other targets; the path itself
// is resolved by the collector (collector.ResolveCgroup).
func (o *traceOptions) validateCgroup() error {
	if o.all && o.cgroup != "" {
		return errors.New("--all traces every process: it cannot be combined with --cgroup")
	}
	return nil
}
