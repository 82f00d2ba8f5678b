package main

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/testutils"
)

// noUringEnv, in the environment of this test binary re-run as a helper,
// names the iotrace binary to exec with io_uring_setup refused (the value
// after the colon is the errno: ENOSYS or EPERM).
const noUringEnv = "IOTRACE_TEST_NO_URING"

// TestUringWorkloadWithoutIoUring runs "iotrace workload uring" where
// io_uring_setup fails, as it does when kernel.io_uring_disabled forbids it
// (EPERM) or the kernel has no io_uring (ENOSYS): a seccomp filter makes it
// fail, so the host's sysctl, which other processes share, is left alone.
// The workload must say so in one line and exit non-zero, without a panic.
func TestUringWorkloadWithoutIoUring(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the seccomp filter is written for x86-64")
	}
	bin := testutils.IotraceBin(t)
	for _, errno := range []string{"ENOSYS", "EPERM"} {
		t.Run(errno, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(os.Args[0], "-test.run=^TestNoUringHelper$")
			cmd.Env = append(os.Environ(), noUringEnv+"="+bin+":"+errno)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			msg := strings.TrimRight(stderr.String(), "\n")
			if err == nil {
				t.Fatalf("exit status 0; stdout %q, stderr %q", stdout.String(), msg)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("%v, want exit status 1; stderr %q", err, msg)
			}
			want := "io_uring is unavailable: io_uring_setup: " + map[string]string{"ENOSYS": "function not implemented", "EPERM": "operation not permitted"}[errno]
			if !strings.Contains(msg, want) || strings.Contains(msg, "\n") || strings.Contains(msg, "panic") || stdout.Len() != 0 {
				t.Errorf("stderr %q (stdout %q), want one line containing %q", msg, stdout.String(), want)
			}
		})
	}
}

// TestNoUringHelper is the helper process: it refuses io_uring_setup to
// itself with a seccomp filter, which execve keeps, and execs the workload.
func TestNoUringHelper(t *testing.T) {
	v := os.Getenv(noUringEnv)
	if v == "" {
		t.Skip("a helper of TestUringWorkloadWithoutIoUring")
	}
	bin, name, _ := strings.Cut(v, ":")
	errno := uint32(unix.ENOSYS)
	if name == "EPERM" {
		errno = uint32(unix.EPERM)
	}
	// The filter applies to this thread, which then execs.
	runtime.LockOSThread()
	const (
		auditArchX8664 = 0xc000003e
		retAllow       = 0x7fff0000
		retErrno       = 0x00050000
		seccompFilter  = 2
	)
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: auditArchX8664, Jt: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: retAllow},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_IO_URING_SETUP, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: retErrno | errno},
		{Code: unix.BPF_RET | unix.BPF_K, K: retAllow},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, seccompFilter, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		t.Fatal(err)
	}
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, noUringEnv+"=") {
			env = append(env, e)
		}
	}
	err := syscall.Exec(bin, []string{bin, "workload", "uring", "--fds", "4", "--messages", "10"}, env)
	t.Fatalf("exec %s: %v", bin, err)
}
