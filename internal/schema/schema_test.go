package schema

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestPublishedCopy keeps docs/trace.schema.json and the embedded copy equal.
func TestPublishedCopy(t *testing.T) {
	pub, err := os.ReadFile("../../docs/trace.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, TraceSchema()) {
		t.Fatal("docs/trace.schema.json and internal/schema/trace.schema.json differ: copy the one you changed over the other")
	}
}

func TestRejects(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"wrong format", `{"format":"x","version":1,"meta":{},"processes":[]}`, "format"},
		{"unknown syscall", `{"format":"iotrace","version":1,"meta":{"kernel":"k","probe_mode":"tracepoint","started":"2026-11-23T08:00:00Z","ended":"2026-11-23T08:00:01Z","targets":[],"lost_events":0,"unavailable":{}},"processes":[{"pid":1,"comm":"a","exited":false,"syscalls":{"read":{}},"threads":[],"epoll_instances":[]}]}`, "read"},
		{"negative count", `{"format":"iotrace","version":1,"meta":{"kernel":"k","probe_mode":"tracepoint","started":"2026-11-23T08:00:00Z","ended":"2026-11-23T08:00:01Z","targets":[],"lost_events":-1,"unavailable":{}},"processes":[]}`, "lost_events"},
	} {
		err := ValidateTrace([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
