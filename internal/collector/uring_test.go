package collector

import "testing"

// TestUringMapsMatchMain: the io_uring object's targets and target_slots are
// replaced by the main object's at load, so their specs must be compatible.
func TestUringMapsMatchMain(t *testing.T) {
	main, err := loadIotrace()
	if err != nil {
		t.Fatal(err)
	}
	ur, err := loadUring()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"targets", "target_slots"} {
		m, u := main.Maps[name], ur.Maps[name]
		if m == nil || u == nil {
			t.Fatalf("%s: missing (main %v, uring %v)", name, m != nil, u != nil)
		}
		if m.Type != u.Type || m.KeySize != u.KeySize || m.ValueSize != u.ValueSize || m.MaxEntries != u.MaxEntries || m.Flags != u.Flags {
			t.Errorf("%s: main %v/%d/%d/%d/%d, uring %v/%d/%d/%d/%d", name,
				m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Flags, u.Type, u.KeySize, u.ValueSize, u.MaxEntries, u.Flags)
		}
	}
}

func TestUringOpNames(t *testing.T) {
	for op, want := range map[int]string{0: "nop", 6: "poll_add", 13: "accept", 26: "send", 27: "recv", 48: "sendmsg_zc", 63: "other"} {
		if got := UringOpName(op); got != want {
			t.Errorf("opcode %d: %q, want %q", op, got, want)
		}
	}
}
