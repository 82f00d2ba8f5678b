package collector

import (
	"encoding/binary"
	"testing"
)

// TestDecodeProcEvent: a proc_events record, as the kernel side writes
// struct proc_event, decodes into the ProcEvent it describes.
func TestDecodeProcEvent(t *testing.T) {
	rec := binary.NativeEndian.AppendUint32(nil, uint32(iotraceProcEventTypeEV_FORK))
	rec = binary.NativeEndian.AppendUint32(rec, 4242)
	rec = binary.NativeEndian.AppendUint32(rec, 17)
	rec = binary.NativeEndian.AppendUint32(rec, 0)
	ev, ok := decodeProcEvent(rec)
	if want := (ProcEvent{Kind: EventFork, Pid: 4242, Ppid: 17}); !ok || ev != want {
		t.Fatalf("decodeProcEvent = %+v, %v; want %+v", ev, ok, want)
	}
	if _, ok := decodeProcEvent(rec[:8]); ok {
		t.Fatal("a short record decoded")
	}
}
