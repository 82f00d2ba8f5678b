package model

import (
	"reflect"
	"strconv"
	"testing"
)

// leaf is one number inside a Stats value, found by reflection, so that
// the tests below cover every field, including those added later.
type leaf struct {
	path    string
	extreme bool // a maximum or minimum: merged, not summed
	get     func(s *Stats) uint64
	set     func(s *Stats, v uint64)
}

// statsLeaves lists every uint64 inside Stats (nested structs and arrays
// included) and one entry of ErrorsByErrno. A field of another kind fails
// the test: Add, Sub, Clone and Since would need to learn it.
func statsLeaves(t *testing.T) []leaf {
	t.Helper()
	var out []leaf
	var walk func(path string, typ reflect.Type, index []int, arr []int)
	walk = func(path string, typ reflect.Type, index []int, arr []int) {
		switch typ.Kind() {
		case reflect.Uint64:
			idx, ar := append([]int(nil), index...), append([]int(nil), arr...)
			v := func(s *Stats) reflect.Value {
				r := reflect.ValueOf(s).Elem()
				ai := 0
				for _, i := range idx {
					if i < 0 {
						r = r.Index(ar[ai])
						ai++
						continue
					}
					r = r.Field(i)
				}
				return r
			}
			last := path[len(path)-3:]
			out = append(out, leaf{
				path:    path,
				extreme: last == "Max" || last == "Min",
				get:     func(s *Stats) uint64 { return v(s).Uint() },
				set:     func(s *Stats, x uint64) { v(s).SetUint(x) },
			})
		case reflect.Struct:
			for i := 0; i < typ.NumField(); i++ {
				f := typ.Field(i)
				walk(path+"."+f.Name, f.Type, append(index, i), arr)
			}
		case reflect.Array:
			for j := 0; j < typ.Len(); j++ {
				walk(path+"["+strconv.Itoa(j)+"]", typ.Elem(), append(index, -1), append(arr, j))
			}
		case reflect.Map:
			if typ != reflect.TypeOf(map[string]uint64{}) {
				t.Fatalf("%s: map type %s is not handled", path, typ)
			}
			out = append(out, leaf{
				path: path + "[EINTR]",
				get:  func(s *Stats) uint64 { return s.ErrorsByErrno["EINTR"] },
				set: func(s *Stats, x uint64) {
					if s.ErrorsByErrno == nil {
						s.ErrorsByErrno = map[string]uint64{}
					}
					s.ErrorsByErrno["EINTR"] = x
				},
			})
		default:
			t.Fatalf("%s: field of kind %s is not handled by Add/Sub/Clone/Since: teach them and this test", path, typ.Kind())
		}
	}
	walk("Stats", reflect.TypeOf(Stats{}), nil, nil)
	return out
}

// filled returns a Stats whose every leaf holds a distinct value (minima
// below maxima, as real readings have).
func filled(leaves []leaf) *Stats {
	s := &Stats{}
	for i, l := range leaves {
		l.set(s, uint64(1000+i))
	}
	return s
}

func TestStatsEveryFieldAddSubCloneSince(t *testing.T) {
	leaves := statsLeaves(t)
	if len(leaves) < 20 {
		t.Fatalf("found only %d leaves in Stats", len(leaves))
	}
	b := filled(leaves)

	// Add into zero copies every field.
	sum := &Stats{}
	sum.Add(b)
	for _, l := range leaves {
		if got, want := l.get(sum), l.get(b); got != want {
			t.Errorf("Add: %s = %d, want %d (field not added)", l.path, got, want)
		}
	}
	// Adding again sums counters and keeps extrema.
	sum.Add(b)
	for _, l := range leaves {
		want := 2 * l.get(b)
		if l.extreme {
			want = l.get(b)
		}
		if got := l.get(sum); got != want {
			t.Errorf("Add twice: %s = %d, want %d", l.path, got, want)
		}
	}

	// Clone is deep and complete.
	c := b.Clone()
	if !reflect.DeepEqual(c, b) {
		t.Errorf("Clone differs: %+v", c)
	}
	c.ErrorsByErrno["EINTR"]++
	if b.ErrorsByErrno["EINTR"] == c.ErrorsByErrno["EINTR"] {
		t.Error("Clone shares the errno map")
	}

	// Sub and Since undo the second Add on every counter.
	for name, d := range map[string]*Stats{"Sub": sum.Sub(b), "Since": sum.Since(b)} {
		for _, l := range leaves {
			if got, want := l.get(d), l.get(b); got != want {
				t.Errorf("%s: %s = %d, want %d", name, l.path, got, want)
			}
		}
	}

	// Since treats any counter that went backwards as a reset: the whole
	// current reading is the change.
	for _, l := range leaves {
		if l.extreme {
			continue
		}
		prev := b.Clone()
		l.set(prev, l.get(sum)+1)
		if got := sum.Since(prev); !reflect.DeepEqual(got, sum) {
			t.Errorf("Since with %s gone backwards = %+v, want the current reading", l.path, got)
		}
	}
	if got := sum.Since(nil); !reflect.DeepEqual(got, sum) {
		t.Error("Since(nil) is not the current reading")
	}
}
