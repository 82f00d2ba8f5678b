package collector

import (
	"fmt"
	"reflect"
	"testing"
)

// TestConvertStatsEveryField fills every field of the kernel's struct stats
// (bpf2go's iotraceStats) with a value of its own and checks convertStats
// both ways: every value reaches model.Stats, and every model.Stats figure
// that comes from struct stats is set. A field added to either side that
// convertStats does not map fails here.
func TestConvertStatsEveryField(t *testing.T) {
	// Fields of struct stats that are not figures.
	notFigures := map[string]string{
		"Tgid": "the thread's process: Snapshot files the stats under it",
		"Pad":  "padding",
	}
	// Fields of model.Stats that do not come from struct stats.
	notFromStats := map[string]string{
		"ErrorsByErrno": "counted per errno in the errs map; Snapshot adds them",
	}

	var raw iotraceStats
	next := uint64(1000)
	in := map[string]uint64{} // field of struct stats -> its value
	walk(t, reflect.ValueOf(&raw).Elem(), "", notFigures, func(path string, f reflect.Value) {
		next++
		f.SetUint(next)
		in[path] = next
	})

	got := map[uint64]bool{}
	walk(t, reflect.ValueOf(convertStats(&raw)).Elem(), "", notFromStats, func(path string, f reflect.Value) {
		if f.Uint() == 0 {
			t.Errorf("model.Stats.%s is not set from struct stats", path)
		}
		got[f.Uint()] = true
	})
	for path, v := range in {
		if !got[v] {
			t.Errorf("struct stats field %s (%d) does not reach model.Stats", path, v)
		}
	}
	if len(in) == 0 || len(got) == 0 {
		t.Fatal("no fields walked")
	}
}

// walk calls leaf for every unsigned integer inside v (struct fields by
// name, array elements by index), except under the paths in skip, and fails
// on any other kind of field, so that a new kind of figure is looked at
// rather than passed over.
func walk(t *testing.T, v reflect.Value, path string, skip map[string]string, leaf func(string, reflect.Value)) {
	t.Helper()
	if skip[path] != "" {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Name == "_" {
				continue // structs.HostLayout, padding
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			walk(t, v.Field(i), p, skip, leaf)
		}
	case reflect.Array:
		for i := range v.Len() {
			walk(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i), skip, leaf)
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		leaf(path, v)
	default:
		t.Errorf("%s: a %s field, which this test does not handle: map it or list it", path, v.Kind())
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"6.1.0-57-amd64", false}, {"6.6.30", false}, {"6.7.0", true}, {"6.12.117+deb12-amd64", true},
		{"6.18.44-fc-v857", true}, {"7.0", true}, {"5.15.0", false}, {"garbage", true},
	} {
		if got := kernelAtLeast(c.release, 6, 7); got != c.want {
			t.Errorf("kernelAtLeast(%q, 6, 7) = %v, want %v", c.release, got, c.want)
		}
	}
}
