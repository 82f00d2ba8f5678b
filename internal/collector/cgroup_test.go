package collector

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCgroupV2Mount: the cgroup2 mount of the hierarchy's root is found
// among v1 mounts (a hybrid host, as systemd sets it up), with mountinfo's
// escapes undone; a cgroup2 mount of a subtree counts only without one.
func TestCgroupV2Mount(t *testing.T) {
	for _, c := range []struct{ mountinfo, want string }{
		{"30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n" +
			"31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n" +
			"32 30 0:28 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n", "/sys/fs/cgroup/unified"},
		{"40 1 0:30 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n" +
			"41 1 0:30 / /host/sys\\040fs rw - cgroup2 cgroup2 rw\n", "/host/sys fs"},
		{"40 1 0:30 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"},
		{"32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", ""},
	} {
		f := filepath.Join(t.TempDir(), "mountinfo")
		if err := os.WriteFile(f, []byte(c.mountinfo), 0o644); err != nil {
			t.Fatal(err)
		}
		old := cgroupMounts
		cgroupMounts = f
		got := CgroupV2Mount()
		cgroupMounts = old
		if got != c.want {
			t.Errorf("CgroupV2Mount() = %q, want %q for:\n%s", got, c.want, c.mountinfo)
		}
	}
}

// TestPlacement: the cgroup and the namespace pid come from /proc/PID/cgroup
// and the NSpid line of /proc/PID/status.
func TestPlacement(t *testing.T) {
	old := procRoot
	procRoot = t.TempDir()
	defer func() { procRoot = old }()
	write := func(pid, name, text string) {
		os.MkdirAll(filepath.Join(procRoot, pid), 0o755)
		if err := os.WriteFile(filepath.Join(procRoot, pid, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("100", "cgroup", "12:memory:/docker/abc\n0::/system.slice/docker-abc.scope\n")
	write("100", "status", "Name:\tnginx\nTgid:\t100\nNSpid:\t100\t7\t1\n")
	write("200", "cgroup", "4:memory:/\n")
	write("200", "status", "Name:\tsshd\nNSpid:\t200\n")
	for _, c := range []struct {
		pid  int
		want placement
	}{
		{100, placement{known: true, cgroup: "/system.slice/docker-abc.scope", nsPid: 1}},
		{200, placement{known: true}}, // cgroup v1 only, same pid namespace
		{300, placement{}},            // gone: read again next time
	} {
		var p placement
		p.read(c.pid)
		if p != c.want {
			t.Errorf("pid %d: %+v, want %+v", c.pid, p, c.want)
		}
	}
}
