package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// The gate lets iotrace trace a command from its first instruction: iotrace
// starts itself as `iotrace __gate -- CMD`, registers the gate's pid as a
// target, attaches, and then closes the gate's pipe; the gate execs CMD in
// the same process, so the pid iotrace traces is the command's.
const gateFd = 3

func newGateCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "__gate -- COMMAND [ARGS...]",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			// Wait with a raw read: nothing here may touch Go's netpoller,
			// whose epoll calls would be traced as the command's own.
			var b [1]byte
			for {
				n, err := unix.Read(gateFd, b[:])
				if err == unix.EINTR {
					continue
				}
				if err != nil || n == 0 || b[0] != 'g' {
					return exitError{code: 125} // iotrace went away before releasing us
				}
				break
			}
			unix.Close(gateFd)
			path, err := exec.LookPath(args[0])
			if err != nil {
				return fmt.Errorf("%s: command not found", args[0])
			}
			signal.Reset()
			return syscall.Exec(path, args, os.Environ())
		},
	}
}

// startGated starts `iotrace __gate -- command...` and returns it with the
// write end of its gate; writing 'g' releases it.
func startGated(command []string) (*exec.Cmd, *os.File, error) {
	if _, err := exec.LookPath(command[0]); err != nil {
		return nil, nil, fmt.Errorf("%s: command not found", command[0])
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("finding iotrace's own executable: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, append([]string{"__gate", "--"}, command...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r} // becomes fd 3
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", command[0], err)
	}
	r.Close()
	return cmd, w, nil
}
