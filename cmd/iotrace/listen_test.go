package main

import (
	"bytes"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/iotrace/iotrace/internal/testutils"
)

// Bad --listen input: one clean line, non-zero status, before anything is
// loaded where the flags alone say it is wrong.
func TestListenBadInput(t *testing.T) {
	bin := testutils.IotraceBin(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name string
		root bool
		args []string
		want string
	}{
		{"labels without listen", false, []string{"--pid", "1", "--metrics-labels", "pid"}, "it needs --listen ADDR"},
		{"unknown label", false, []string{"--pid", "1", "--listen", "127.0.0.1:0", "--metrics-labels", "container"}, `unknown label "container"`},
		{"no port", false, []string{"--pid", "1", "--listen", "localhost"}, `--listen "localhost": want host:port`},
		{"zero cap", false, []string{"--pid", "1", "--listen", ":0", "--metrics-max-series", "0"}, "--metrics-max-series must be positive"},
		{"port in use", true, []string{"-q", "--pid", "1", "--no-follow", "--no-tui", "--listen", busy.Addr().String()}, "--listen " + busy.Addr().String() + ": bind: address already in use"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root {
				testutils.RequireRoot(t)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(bin, c.args...)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatal("exit status 0, want non-zero")
			}
			msg := stderr.String()
			if c.root { // the probe-mode line comes first
				if i := strings.Index(msg, "\niotrace: "); i >= 0 {
					msg = msg[i+1:]
				}
			}
			msg = strings.TrimRight(msg, "\n")
			if strings.Contains(msg, "\n") || strings.Contains(msg, "panic") || !strings.HasPrefix(msg, "iotrace: ") || !strings.Contains(msg, c.want) {
				t.Errorf("stderr = %q, want one line containing %q", msg, c.want)
			}
		})
	}
}
