package ui

import (
	"math"
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

func TestHumanBytes(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0 B"}, {2.5, "2.5 B"}, {36, "36 B"}, {512, "512 B"}, {1023, "1023 B"},
		{1024, "1.00 KiB"}, {1536, "1.50 KiB"}, {10000, "9.77 KiB"}, {80 * 1024, "80.0 KiB"},
		{125 * 1024, "125 KiB"}, {20e6, "19.1 MiB"}, {3 << 30, "3.00 GiB"}, {-1, "-"}, {math.NaN(), "-"},
	} {
		if got := HumanBytes(c.v); got != c.want {
			t.Errorf("HumanBytes(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for _, c := range []struct {
		ns   uint64
		want string
	}{
		{0, "0ns"}, {850, "850ns"}, {999, "999ns"}, {1000, "1.00us"}, {1024, "1.02us"},
		{12_345, "12.3us"}, {123_456, "123us"}, {4_560_000, "4.56ms"}, {12_300_000, "12.3ms"},
		{500_660_000, "501ms"}, {1_200_000_000, "1.20s"}, {99_000_000_000, "99.0s"},
		{123_000_000_000, "2m03s"}, {3_700_000_000_000, "1h01m"},
	} {
		if got := HumanDuration(c.ns); got != c.want {
			t.Errorf("HumanDuration(%d) = %q, want %q", c.ns, got, c.want)
		}
	}
}

func TestNum(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.005, "<0.01"}, {0.39, "0.39"}, {1, "1"}, {2.5, "2.5"}, {2.499, "2.5"},
		{12.34, "12.3"}, {12, "12"}, {99.96, "100"}, {1000, "1000"}, {9999.4, "9999"},
		{12345, "12.3k"}, {100_000, "100k"}, {1_500_000, "1.5M"}, {2.5e9, "2.5G"},
		{-3, "-3"}, {math.NaN(), "-"}, {math.Inf(1), "-"},
	} {
		if got := Num(c.v); got != c.want {
			t.Errorf("Num(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0, "0%"}, {1e-8, "<0.01%"}, {0.0005, "0.05%"}, {0.016, "1.6%"}, {0.25, "25%"}, {1, "100%"},
		{-0.1, "-"}, {math.NaN(), "-"},
	} {
		if got := Percent(c.f); got != c.want {
			t.Errorf("Percent(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestRateAndTruncate(t *testing.T) {
	for _, c := range []struct {
		r    float64
		want string
	}{{0, "max"}, {-1, "max"}, {5000, "5000/s"}, {12345, "12.3k/s"}} {
		if got := Rate(c.r); got != c.want {
			t.Errorf("Rate(%v) = %q, want %q", c.r, got, c.want)
		}
	}
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
