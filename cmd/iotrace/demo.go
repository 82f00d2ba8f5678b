package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/iotrace/iotrace/internal/ui"
	"github.com/iotrace/iotrace/internal/workloads"
)

// demo runs the built-in workloads side by side, each as a child process
// of iotrace that the tracer targets, all with the same load. It implements
// ui.Demo: changing the load restarts every model with the new parameters
// (workloads cannot change N live), and each new child becomes a target.
type demo struct {
	ctx    context.Context
	exe    string
	models []workloads.Model
	size   int
	tcp    bool
	track  func(pid int) error // makes a new child a target

	mu       sync.Mutex
	params   ui.LoadParams
	children map[workloads.Model]*workloads.Child
	status   map[workloads.Model]string
}

func newDemo(ctx context.Context, models []workloads.Model, p ui.LoadParams, size int, tcp bool) (*demo, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding iotrace's own executable: %w", err)
	}
	return &demo{ctx: ctx, exe: exe, models: models, size: size, tcp: tcp, params: p,
		children: map[workloads.Model]*workloads.Child{}, status: map[workloads.Model]string{}}, nil
}

func (d *demo) config(m workloads.Model, p ui.LoadParams) workloads.Config {
	cfg := workloads.DefaultConfig()
	cfg.Model, cfg.FDs, cfg.Active, cfg.Rate, cfg.Size, cfg.TCP = m, p.Fds, p.Active, p.Rate, d.size, d.tcp
	return cfg
}

// start launches every model with the current parameters. A model that
// cannot run with them (select beyond FD_SETSIZE) gets a status instead;
// only when no model runs at all is that an error.
func (d *demo) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []string
	for _, m := range d.models {
		cfg := d.config(m, d.params)
		if err := cfg.Validate(); err != nil {
			d.status[m] = err.Error()
			errs = append(errs, err.Error())
			continue
		}
		c, err := workloads.StartChild(d.ctx, d.exe, cfg)
		if err != nil {
			d.status[m] = err.Error()
			errs = append(errs, err.Error())
			continue
		}
		if err := d.track(c.Pid()); err != nil {
			c.Stop()
			return err
		}
		d.children[m] = c
		delete(d.status, m)
	}
	if len(d.children) == 0 {
		return errors.New("no built-in workload could start: " + strings.Join(errs, "; "))
	}
	return nil
}

// stop ends every child and waits for it.
func (d *demo) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *demo) stopLocked() {
	var wg sync.WaitGroup
	for m, c := range d.children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Stop()
		}()
		delete(d.children, m)
	}
	wg.Wait()
}

// pids lists the running children.
func (d *demo) pids() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	for _, c := range d.children {
		out = append(out, c.Pid())
	}
	return out
}

func (d *demo) Params() ui.LoadParams {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.params
}

// SetParams restarts every model with new parameters. Invalid ones (for
// example more active connections than connections) are refused and the
// running models are left alone.
func (d *demo) SetParams(p ui.LoadParams) error {
	if p.Fds < 1 || p.Active < 0 || p.Active > p.Fds || p.Rate < 0 {
		return fmt.Errorf("invalid load: %d fds, %d active, rate %g", p.Fds, p.Active, p.Rate)
	}
	d.mu.Lock()
	d.stopLocked()
	d.params = p
	d.mu.Unlock()
	return d.start()
}

func (d *demo) Models() []ui.DemoModel {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ui.DemoModel, 0, len(d.models))
	for _, m := range d.models {
		dm := ui.DemoModel{Name: string(m), Status: d.status[m]}
		if c := d.children[m]; c != nil {
			dm.Pid = c.Pid()
			if r, ok := c.Stats(); ok {
				dm.Tid = r.ServerTID
				dm.Truth = ui.Truth{Calls: uint64(r.Calls), ReadyEvents: uint64(r.ReadyEvents),
					BytesRead: uint64(r.BytesRead), Messages: uint64(r.Messages), Elapsed: time.Duration(r.ElapsedNS)}
			}
		}
		out = append(out, dm)
	}
	return out
}
