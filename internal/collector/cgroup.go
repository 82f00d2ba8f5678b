package collector

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroup is a resolved --cgroup target: a cgroup of the v2 hierarchy,
// which is the one bpf_get_current_cgroup_id and
// bpf_get_current_ancestor_cgroup_id see.
type Cgroup struct {
	// Path is the cgroup's path from the hierarchy's root, as
	// /proc/PID/cgroup shows it in the root cgroup namespace
	// ("/system.slice/nginx.service").
	Path string
	// Dir is where it is in the file system.
	Dir string
	// ID is the cgroup id the BPF helpers return: the directory's inode
	// number (kernfs ids are inode numbers on 64-bit kernels).
	ID uint64
	// Level is its depth below the root (the root is 0).
	Level int
}

// Magic numbers of statfs(2)'s f_type (include/uapi/linux/magic.h).
const (
	cgroup2Magic = 0x63677270
	cgroup1Magic = 0x27e0eb
)

// cgroupMounts is where mountinfo is read from; tests may point it elsewhere.
var cgroupMounts = "/proc/self/mountinfo"

// CgroupV2Mount returns the mount point of the cgroup v2 hierarchy (the
// first cgroup2 mount of its root), or "" if none is mounted.
func CgroupV2Mount() string {
	f, err := os.Open(cgroupMounts)
	if err != nil {
		return ""
	}
	defer f.Close()
	first := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		point := unescapeMountinfo(fields[4])
		if fields[3] == "/" {
			return point
		}
		if first == "" {
			first = point
		}
	}
	return first
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ResolveCgroup finds the cgroup --cgroup names: a directory of the cgroup
// v2 file system (/sys/fs/cgroup/system.slice/nginx.service), or a path
// relative to where the v2 hierarchy is mounted (system.slice/nginx.service,
// or /system.slice/nginx.service as /proc/PID/cgroup shows it). Errors are
// one line and say what to do.
func ResolveCgroup(arg string) (Cgroup, error) {
	if arg == "" {
		return Cgroup{}, errors.New("--cgroup: empty path")
	}
	mount := CgroupV2Mount()
	var tries []string
	if filepath.IsAbs(arg) {
		tries = append(tries, arg)
	}
	if mount != "" {
		tries = append(tries, filepath.Join(mount, arg))
	}
	for _, dir := range tries {
		cg, err := cgroupAt(dir)
		if err == nil {
			return cg, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Cgroup{}, fmt.Errorf("--cgroup %s: %w", arg, err)
		}
	}
	if mount == "" {
		return Cgroup{}, fmt.Errorf("--cgroup %s: not a cgroup v2 directory, and no cgroup v2 hierarchy is mounted (see /proc/self/mountinfo); --cgroup needs cgroup v2", arg)
	}
	return Cgroup{}, fmt.Errorf("--cgroup %s: no such cgroup (looked for %s)", arg, strings.Join(tries, " and "))
}

// cgroupAt resolves one candidate directory.
func cgroupAt(dir string) (Cgroup, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Cgroup{}, fs.ErrNotExist
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return Cgroup{}, fs.ErrNotExist
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Cgroup{}, fmt.Errorf("%s is not a directory", real)
	}
	switch fsType(real) {
	case cgroup2Magic:
	case cgroup1Magic:
		v2 := CgroupV2Mount()
		if v2 == "" {
			v2 = "not mounted here"
		}
		return Cgroup{}, fmt.Errorf("%s is in a cgroup v1 hierarchy; --cgroup needs cgroup v2, the hierarchy the BPF helpers see (v2: %s)", real, v2)
	default:
		return Cgroup{}, fs.ErrNotExist
	}
	// The hierarchy's root is the one cgroup without a cgroup.type file
	// (kernel/cgroup/cgroup.c: CFTYPE_NOT_ON_ROOT). Walking up to it gives
	// the level, whatever the mount shows as its root.
	var names []string
	for d := real; ; d = filepath.Dir(d) {
		if fsType(d) != cgroup2Magic {
			return Cgroup{}, fmt.Errorf("the cgroup2 mount holding %s is not the hierarchy's root (a cgroup namespace's view?): mount the host's /sys/fs/cgroup", real)
		}
		if _, err := os.Lstat(filepath.Join(d, "cgroup.type")); err != nil {
			break
		}
		names = append([]string{filepath.Base(d)}, names...)
	}
	return Cgroup{Path: "/" + strings.Join(names, "/"), Dir: real, ID: st.Ino, Level: len(names)}, nil
}

// fsType is statfs(2)'s f_type for path, 0 if it cannot be read.
func fsType(path string) int64 {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return 0
	}
	return int64(s.Type)
}

// Procs lists the processes in the cgroup and in its descendants, read from
// their cgroup.procs files.
func (cg Cgroup) Procs() ([]int, error) {
	var pids []int
	err := filepath.WalkDir(cg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != cg.Dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the processes of cgroup %s: %w", cg.Path, err)
	}
	return pids, nil
}

// readCgroup returns pid's cgroup in the v2 hierarchy: the "0::" line of
// /proc/PID/cgroup, a path relative to iotrace's own cgroup namespace ("" if
// the kernel shows none: no v2 hierarchy was ever mounted); false if the
// file cannot be read (the process is gone).
func readCgroup(pid int) (string, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, true
		}
	}
	return "", true
}

// readNsPid returns pid as the process sees itself, the last field of the
// NSpid line of /proc/PID/status (its innermost pid namespace), and 0 when
// that is the pid iotrace sees (one field: the same namespace) or unknown.
func readNsPid(pid int) int {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "NSpid:")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) < 2 {
			return 0
		}
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}

func (cg *Cgroup) id() uint64 {
	if cg == nil {
		return 0
	}
	return cg.ID
}

func (cg *Cgroup) level() uint32 {
	if cg == nil {
		return 0
	}
	return uint32(cg.Level)
}

// addCgroupProcs makes the processes already in the --cgroup target
// targets; the kernel side takes those that come later (a fork of a target,
// or any process of the cgroup at its first traced call).
func (c *Collector) addCgroupProcs() error {
	if c.cgroup == nil {
		return nil
	}
	pids, err := c.cgroup.Procs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if pid == os.Getpid() {
			continue
		}
		if err := c.AddTarget(pid); err != nil {
			return err
		}
	}
	return nil
}

// placement is where a process lives: its cgroup and its own pid.
type placement struct {
	known  bool
	cgroup string
	nsPid  int
}

// read fills p from /proc the first time it is called for a live process.
func (p *placement) read(pid int) {
	if p.known {
		return
	}
	cg, ok := readCgroup(pid)
	if !ok {
		return // gone
	}
	p.cgroup, p.nsPid, p.known = cg, readNsPid(pid), true
}
