package ui

import (
	"reflect"
	"testing"

	"github.com/iotrace/iotrace/internal/model"
)

func TestSparkline(t *testing.T) {
	for _, c := range []struct {
		name   string
		values []float64
		width  int
		want   string
	}{
		{"empty", nil, 5, ""},
		{"zero width", []float64{1, 2}, 0, ""},
		{"idle is blank", []float64{0, 0}, 5, "  "},
		{"eight levels", []float64{1, 2, 3, 4, 5, 6, 7, 8}, 8, "▁▂▃▄▅▆▇█"},
		{"gap", []float64{0, 8, 4}, 3, " █▄"},
		{"keeps the last width values", []float64{1, 2, 3, 4}, 2, "▆█"},
		{"tiny positive is visible", []float64{0.001, 1000}, 2, "▁█"},
		{"negative is blank", []float64{-1, 1}, 2, " █"},
	} {
		if got := Sparkline(c.values, c.width); got != c.want {
			t.Errorf("%s: Sparkline(%v, %d) = %q, want %q", c.name, c.values, c.width, got, c.want)
		}
	}
}

func TestBar(t *testing.T) {
	for _, c := range []struct {
		v, max uint64
		width  int
		want   string
	}{
		{0, 10, 10, ""},
		{5, 0, 10, ""},
		{10, 10, 4, "████"},
		{5, 10, 4, "██"},
		{1, 10, 4, "▍"},
		{1, 1000, 4, "▏"},
		{3, 4, 1, "▊"},
		{20, 10, 2, "██"},
	} {
		if got := Bar(c.v, c.max, c.width); got != c.want {
			t.Errorf("Bar(%d, %d, %d) = %q, want %q", c.v, c.max, c.width, got, c.want)
		}
	}
}

func TestHistogramLines(t *testing.T) {
	hist := func(vs ...uint64) *model.Histogram {
		var h model.Histogram
		for _, v := range vs {
			h.Observe(v)
		}
		return &h
	}
	for _, c := range []struct {
		name string
		h    *model.Histogram
		want []string
	}{
		{"empty", hist(), nil},
		{"one bucket", hist(0, 1), []string{"   0ns │████ 2"}},
		{"first to last non-empty bucket", hist(5000, 5000, 5000, 20000), []string{
			"4.10us │████ 3",
			"8.19us │     0",
			"16.4us │█▎   1",
		}},
		{"counts aligned", hist(append(make([]uint64, 12), 3000)...), []string{
			"   0ns │████ 12",
			"   2ns │      0",
			"   4ns │      0",
			"   8ns │      0",
			"  16ns │      0",
			"  32ns │      0",
			"  64ns │      0",
			" 128ns │      0",
			" 256ns │      0",
			" 512ns │      0",
			"1.02us │      0",
			"2.05us │▎     1",
		}},
	} {
		got := HistogramLines(c.h, 4)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{{"hello", 3, "he…"}, {"hi", 3, "hi"}, {"hello", 1, "…"}, {"x", 0, ""}, {"ép▁x", 3, "ép…"}} {
		if got := truncate(c.s, c.n); got != c.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
