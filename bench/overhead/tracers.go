package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ---- iotrace ----

// iotraceDoc is the part of iotrace's JSON trace the harness reads.
type iotraceDoc struct {
	Meta struct {
		ProbeMode  string            `json:"probe_mode"`
		LostEvents uint64            `json:"lost_events"`
		Lost       map[string]uint64 `json:"lost"`
		Events     *struct {
			Recorded  uint64 `json:"recorded"`
			OverLimit uint64 `json:"over_limit"`
			Limit     int    `json:"limit"`
		} `json:"events"`
	} `json:"meta"`
	Processes []struct {
		Pid      int `json:"pid"`
		Syscalls map[string]struct {
			Calls uint64 `json:"calls"`
		} `json:"syscalls"`
		Threads []struct {
			Tid int `json:"tid"`
		} `json:"threads"`
	} `json:"processes"`
}

// readIotraceDoc reads meta and processes, and stops before the per-call
// events (which can be hundreds of MB).
func readIotraceDoc(path string) (*iotraceDoc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	doc := &iotraceDoc{}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	var haveMeta, haveProcs bool
	for dec.More() && !(haveMeta && haveProcs) {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch t {
		case "meta":
			err, haveMeta = dec.Decode(&doc.Meta), true
		case "processes":
			err, haveProcs = dec.Decode(&doc.Processes), true
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if !haveMeta {
		return nil, fmt.Errorf("%s: no meta", path)
	}
	return doc, nil
}

// calls returns what iotrace counted for pid.
func (d *iotraceDoc) calls(pid int) map[string]uint64 {
	m := map[string]uint64{}
	for _, p := range d.Processes {
		if p.Pid != pid {
			continue
		}
		for sc, s := range p.Syscalls {
			m[sc] = s.Calls
		}
	}
	return m
}

// startIotrace starts iotrace with args plus a ready file and waits until
// every probe is attached.
func (r *runner) startIotrace(tag string, args []string) (*proc, time.Duration, error) {
	return r.startIotraceBin(r.iotrace, tag, args)
}

// startIotraceBin is startIotrace with another iotrace binary.
func (r *runner) startIotraceBin(bin, tag string, args []string) (*proc, time.Duration, error) {
	ready := filepath.Join(r.dir, tag+".ready")
	os.Remove(ready)
	argv := append([]string{bin}, args...)
	argv = append(argv, "--ready-file", ready)
	p, err := startProc("iotrace", argv, false, filepath.Join(r.dir, tag+".stdout"))
	if err != nil {
		return nil, 0, err
	}
	d, err := p.waitFile(ready, 60*time.Second)
	if err != nil {
		p.stop(10 * time.Second)
		return nil, 0, err
	}
	return p, d, nil
}

// ---- bpftrace ----

const bpftraceReady = "IOTRACE_BENCH_READY"

// bpftraceScript counts calls and keeps a latency histogram per syscall for
// pid, on the same syscall tracepoints iotrace uses.
func bpftraceScript(pid int) string {
	var enter, exit []string
	for _, sc := range tracedSyscalls {
		enter = append(enter, "tracepoint:syscalls:sys_enter_"+sc)
		exit = append(exit, "tracepoint:syscalls:sys_exit_"+sc)
	}
	return fmt.Sprintf(`BEGIN { printf("%s\n"); }
%s
/pid == %d/
{
	@start[tid] = nsecs;
}
%s
/pid == %d/
{
	$s = @start[tid];
	if ($s != 0) {
		@lat[args->__syscall_nr] = hist(nsecs - $s);
		@calls[args->__syscall_nr] = count();
		delete(@start[tid]);
	}
}
`, bpftraceReady, strings.Join(enter, ",\n"), pid, strings.Join(exit, ",\n"), pid)
}

func (r *runner) startBpftrace(tag string, pid int) (*proc, error) {
	script := filepath.Join(r.dir, tag+".bt")
	if err := os.WriteFile(script, []byte(bpftraceScript(pid)), 0o644); err != nil {
		return nil, err
	}
	return startProc("bpftrace", []string{"bpftrace", script}, true, "")
}

// syscallNumbers are the x86_64 numbers of the loops' syscalls.
var syscallNumbers = map[string]int{"poll": 7, "pselect6": 270, "epoll_wait": 232, "getppid": 110}

// bpftraceCalls reads "@calls[NR]: N" lines.
func bpftraceCalls(out string) map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "@calls[") {
			continue
		}
		nr, n, ok := strings.Cut(strings.TrimPrefix(l, "@calls["), "]: ")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			continue
		}
		for k, num := range syscallNumbers {
			if strconv.Itoa(num) == nr {
				m[k] = v
			}
		}
	}
	return m
}

// perfCalls parses perf trace -s output: "syscall calls errors total min avg max stddev".
func perfCalls(out string) map[string]uint64 {
	return tableCalls(out, func(f []string) (name, calls string) {
		if len(f) < 3 {
			return "", ""
		}
		return f[0], f[1]
	})
}

// straceCalls parses strace -c output: "% time seconds usecs/call calls [errors] syscall".
func straceCalls(out string) map[string]uint64 {
	return tableCalls(out, func(f []string) (name, calls string) {
		if len(f) < 5 {
			return "", ""
		}
		return f[len(f)-1], f[3]
	})
}

// tableCalls sums the calls of the loops' syscalls in a tracer's summary
// table, one syscall a line; row picks the syscall's name and its calls out
// of a line's fields, or "" for a line that is no such row. A syscall listed
// more than once (perf trace -s lists it per thread) is summed.
func tableCalls(out string, row func(fields []string) (name, calls string)) map[string]uint64 {
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		name, n := row(strings.Fields(l))
		if _, ok := syscallNumbers[name]; !ok {
			continue
		}
		if v, err := strconv.ParseUint(n, 10, 64); err == nil {
			m[name] += v
		}
	}
	return m
}
