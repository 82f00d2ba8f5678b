package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/iotrace/iotrace/internal/workloads"
)

func newWorkloadCmd() *cobra.Command {
	cfg := workloads.DefaultConfig()
	var names []string
	for _, m := range workloads.Models() {
		names = append(names, string(m))
	}
	cmd := &cobra.Command{
		Use:   "workload MODEL",
		Short: "Run a built-in workload of one of the five I/O models and print its ground truth",
		Long: `workload runs a server thread that holds --fds connections and waits on
them with MODEL, while a driver thread writes --size byte messages to --active
of them at --rate messages per second. Both use raw system calls on locked
threads, never Go's netpoller, so a tracer sees the model itself.

MODEL is one of (its waiting call, counted in "calls", in brackets):
  blocking       one thread per connection in a blocking read(2), SO_RCVTIMEO 100 ms
                 [read]; at most 4000 connections
  nonblock-spin  non-blocking read(2) on every connection in turn, no wait between
                 [read; most return EAGAIN]
  select         select(2) on every connection (all fds must be below FD_SETSIZE, 1024)
  poll           poll(2) on every connection
  epoll-lt       epoll, level-triggered, one read per event
  epoll-et       epoll with EPOLLET, reads until EAGAIN
  epoll-oneshot  epoll with EPOLLONESHOT, re-armed with EPOLL_CTL_MOD after each event
  sigio          O_ASYNC, F_SETOWN_EX to the server thread, F_SETSIG to signal 40;
                 reads the signalled fd until EAGAIN [rt_sigtimedwait]
  uring          io_uring recv on every connection, multishot on Linux 6.0+
                 [io_uring_enter]; fails with one line if io_uring is disabled

It runs until --duration has passed, --messages have been read, or SIGINT or
SIGTERM, then prints its ground truth as one JSON object on stdout:
model, fds, active, calls (the waiting calls), ready_events, bytes_read,
messages, elapsed_ns, calls_by_syscall (every multiplexing call by the
system call issued, epoll_ctl included), server_tid(s), reads and eagains
(read(2) calls and their EAGAIN returns), bytes_written (by the driver),
signals and signal_overflows (sigio; an overflow is a SIGIO sent because the
real-time signal queue was full), and submissions, completions,
recv_completions and multishot (uring). With --stats-interval it also prints
the figures so far as one JSON line at the start and every interval.`,
		Example: `  iotrace workload epoll-et --fds 10000 --active 100 --rate 50000 --duration 10s
  iotrace workload select --fds 1000 --active 10 --tcp`,
		ValidArgs:    names,
		SilenceUsage: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("workload needs one MODEL: " + strings.Join(names, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := workloads.ParseModel(args[0])
			if err != nil {
				return err
			}
			cfg.Model = m
			if err := cfg.Validate(); err != nil {
				return err
			}
			// Name the process after its model (best effort): with several
			// workloads side by side, their rows are then told apart.
			workloads.SetProcessName(string(m))
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, err = workloads.Run(ctx, cfg, cmd.OutOrStdout())
			return err
		},
	}
	cfg.BindFlags(cmd.Flags())
	cmd.Flags().SortFlags = false
	return cmd
}
