package collector

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/iotrace/iotrace/internal/model"
)

// btfEnum returns the enumerators of a C enum in the embedded BPF object.
func btfEnum(t *testing.T, name string) []btf.EnumValue {
	t.Helper()
	spec, err := loadIotrace()
	if err != nil {
		t.Fatal(err)
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName(name, &e); err != nil {
		t.Fatalf("enum %s: %v", name, err)
	}
	return e.Values
}

// TestSyscallEnum: every enumerator of the C enum sc is the model.Syscall
// of the same name (SC_EPOLL_WAIT is epoll_wait), apart from the two the
// kernel side keeps for itself, and every model.Syscall has one. contract.go
// checks the values of the ones Go names at compile time; this catches an
// enumerator added in C alone.
func TestSyscallEnum(t *testing.T) {
	kernelOnly := map[string]bool{
		"SC_EPOLL_CREATE": true, // epoll_create and epoll_create1: per-epfd state only, no figures
		"SC_IDLE":         true, // an inflight entry that is in no call
	}
	seen := map[model.Syscall]bool{}
	for _, v := range btfEnum(t, "sc") {
		if kernelOnly[v.Name] {
			continue
		}
		sc, ok := model.ParseSyscall(strings.ToLower(strings.TrimPrefix(v.Name, "SC_")))
		if !ok {
			t.Errorf("enum sc: %s = %d has no model.Syscall", v.Name, v.Value)
			continue
		}
		if uint64(sc) != v.Value {
			t.Errorf("enum sc: %s = %d, model.Syscall %s = %d", v.Name, v.Value, sc, int(sc))
		}
		seen[sc] = true
	}
	if len(seen) != int(model.NumSyscalls) {
		t.Errorf("enum sc has %d of the model's %d syscalls", len(seen), model.NumSyscalls)
	}
}

// TestCounterNames: every index of the counters map has a meta.lost name,
// and the names are distinct.
func TestCounterNames(t *testing.T) {
	if got := len(btfEnum(t, "counter")); got != len(counterNames)+1 { // + NR_COUNTERS
		t.Errorf("enum counter has %d enumerators, counterNames %d names (+ NR_COUNTERS)", got, len(counterNames))
	}
	seen := map[string]bool{}
	for i, name := range counterNames {
		if name == "" || seen[name] {
			t.Errorf("counter %d: name %q missing or repeated", i, name)
		}
		seen[name] = true
	}
	for c := range lossCounters {
		if int(c) >= len(counterNames) {
			t.Errorf("loss counter %d is not a counter", c)
		}
	}
}
