package collector

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where procfs is read from; tests may point it elsewhere.
var procRoot = "/proc"

// readComm returns /proc/PID/comm (or /proc/PID/task/TID/comm), trimmed.
func readComm(pid, tid int) (string, bool) {
	p := filepath.Join(procRoot, strconv.Itoa(pid), "comm")
	if tid != 0 {
		p = filepath.Join(procRoot, strconv.Itoa(pid), "task", strconv.Itoa(tid), "comm")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	return strings.TrimRight(string(b), "\n"), true
}

// resolveTgid returns the process (thread group) id of pid, which may also
// name a thread, or an error naming the pid when it does not exist.
func resolveTgid(pid int) (int, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		if os.IsNotExist(err) {
			return 0, fmt.Errorf("no such process: %d", pid)
		}
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("process %d: no Tgid in its status", pid)
}

func processAlive(pid int) bool {
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return err == nil
}

// epollFds returns the epoll instances of a process with the size of their
// interest lists, counted from the "tfd:" lines of /proc/PID/fdinfo/FD.
func epollFds(pid int) map[int]int64 {
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[int]int64{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if n, ok := epollRegistered(pid, fd); ok {
			out[fd] = n
		}
	}
	return out
}

// epollRegistered reports the interest-list size of epoll fd `fd` in pid,
// and false if that fd is not an epoll instance (or is gone).
func epollRegistered(pid, fd int) (int64, bool) {
	target, err := os.Readlink(filepath.Join(procRoot, strconv.Itoa(pid), "fd", strconv.Itoa(fd)))
	if err != nil || target != "anon_inode:[eventpoll]" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "fdinfo", strconv.Itoa(fd)))
	if err != nil {
		return 0, false
	}
	return countTfdLines(string(b)), true
}

// countTfdLines counts the registered targets in an eventpoll fdinfo text:
// fs/eventpoll.c prints one "tfd:" line per epitem.
func countTfdLines(fdinfo string) int64 {
	var n int64
	for _, line := range strings.Split(fdinfo, "\n") {
		if strings.HasPrefix(line, "tfd:") {
			n++
		}
	}
	return n
}

// kallsyms reads /proc/kallsyms once and returns the address of each of
// names it lists (0 where addresses are hidden: kptr_restrict shows zeros);
// names it does not list are absent from the map.
func kallsyms(names []string) map[string]uint64 {
	found := map[string]uint64{}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	f, err := os.Open(filepath.Join(procRoot, "kallsyms"))
	if err != nil {
		return found
	}
	defer f.Close()
	// 120,000 lines of "ADDR TYPE NAME [MODULE]": cut, do not split.
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	for sc.Scan() {
		addr, rest, ok := bytes.Cut(sc.Bytes(), []byte{' '})
		if !ok {
			continue
		}
		_, name, ok := bytes.Cut(rest, []byte{' '})
		if !ok {
			continue
		}
		if i := bytes.IndexAny(name, " \t"); i >= 0 {
			name = name[:i]
		}
		if want[string(name)] {
			v, _ := strconv.ParseUint(string(addr), 16, 64)
			found[string(name)] = v
		}
	}
	return found
}

// kernelRelease returns the running kernel's release string.
func kernelRelease() string {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/osrelease"))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
