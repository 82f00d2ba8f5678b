package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/gate"
)

// newGateCmd is the hidden `__gate` command. The gate lets iotrace trace a command from its first instruction: iotrace
// starts itself as `iotrace __gate -- CMD` with a gate on fd 3 (package
// gate), registers the gate's pid as a target, attaches, and then releases
// it; the gate execs CMD in the same process, so the pid iotrace traces is
// the command's.
func newGateCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "__gate -- COMMAND [ARGS...]",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			// gate.Await reads raw: nothing here may touch Go's
			// netpoller, whose epoll calls would be traced as the
			// command's own.
			if err := gate.Await(gate.Fd3Fd); err != nil {
				return exitError{code: 125} // iotrace went away before releasing us
			}
			unix.Close(gate.Fd3Fd)
			path, err := exec.LookPath(args[0])
			if err != nil {
				return fmt.Errorf("%s: command not found", args[0])
			}
			signal.Reset()
			return syscall.Exec(path, args, os.Environ())
		},
	}
}

// startGated starts `iotrace __gate -- command...` with the given standard
// files, held at its gate until Release (then CloseGate).
func startGated(command []string, stdin, stdout, stderr *os.File) (*gate.Child, error) {
	if _, err := exec.LookPath(command[0]); err != nil {
		return nil, fmt.Errorf("%s: command not found", command[0])
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding iotrace's own executable: %w", err)
	}
	cmd := exec.Command(self, append([]string{"__gate", "--"}, command...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	c, err := gate.Start(cmd, gate.Options{Gate: gate.Fd3})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", command[0], err)
	}
	return c, nil
}
