package format

import (
	"math"
	"testing"
)

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0 B"}, {2.5, "2.5 B"}, {36, "36 B"}, {512, "512 B"}, {1023, "1023 B"},
		{1024, "1.00 KiB"}, {1536, "1.50 KiB"}, {10000, "9.77 KiB"}, {80 * 1024, "80.0 KiB"},
		{125 * 1024, "125 KiB"}, {20e6, "19.1 MiB"}, {3 << 30, "3.00 GiB"}, {-1, "-"}, {math.NaN(), "-"},
	} {
		if got := Bytes(c.v); got != c.want {
			t.Errorf("Bytes(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		ns   uint64
		want string
	}{
		{0, "0ns"}, {850, "850ns"}, {999, "999ns"}, {1000, "1.00us"}, {1024, "1.02us"},
		{12_345, "12.3us"}, {123_456, "123us"}, {4_560_000, "4.56ms"}, {12_300_000, "12.3ms"},
		{500_660_000, "501ms"}, {1_200_000_000, "1.20s"}, {99_000_000_000, "99.0s"},
		{123_000_000_000, "2m03s"}, {3_700_000_000_000, "1h01m"},
	} {
		if got := Duration(c.ns); got != c.want {
			t.Errorf("Duration(%d) = %q, want %q", c.ns, got, c.want)
		}
	}
}

func TestCompact(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.005, "<0.01"}, {0.39, "0.39"}, {1, "1"}, {2.5, "2.5"}, {2.499, "2.5"},
		{12.34, "12.3"}, {12, "12"}, {99.96, "100"}, {1000, "1000"}, {9999.4, "9999"},
		{12345, "12.3k"}, {100_000, "100k"}, {1_500_000, "1.5M"}, {2.5e9, "2.5G"},
		{-3, "-3"}, {math.NaN(), "-"}, {math.Inf(1), "-"},
	} {
		if got := Compact(c.v); got != c.want {
			t.Errorf("Compact(%v) = %q, want %q", c.v, got, c.want)
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

func TestRate(t *testing.T) {
	for _, c := range []struct {
		r    float64
		want string
	}{{0, "max"}, {-1, "max"}, {5000, "5000/s"}, {12345, "12.3k/s"}} {
		if got := Rate(c.r); got != c.want {
			t.Errorf("Rate(%v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestFixedDuration(t *testing.T) {
	for ns, want := range map[uint64]string{0: "0ns", 999: "999ns", 1500: "1.5us", 2_500_000: "2.50ms", 3_000_000_000: "3.00s"} {
		if got := FixedDuration(ns); got != want {
			t.Errorf("FixedDuration(%d) = %q, want %q", ns, got, want)
		}
	}
}

func TestSweepAndDecade(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{FixedNs(0.66), "0.7ns"}, {FixedNs(660), "660ns"}, {FixedNs(35000), "35.0us"}, {FixedNs(2.19e6), "2.19ms"},
		{PerCall(1), "1"}, {PerCall(0.25), "0.25"}, {PerCall(11.4), "11.40"}, {PerCall(1980.4), "1980"},
		{FixedCount(950), "950"}, {FixedCount(482000), "482.0k"}, {FixedCount(1.25e6), "1.25M"},
		{Ratio(1500.2), "1500"}, {Ratio(29.17), "29.2"}, {Ratio(0.5), "0.50"},
		{DecadeDuration(100), "100ns"}, {DecadeDuration(1e3), "1µs"}, {DecadeDuration(1e7), "10ms"}, {DecadeDuration(1e9), "1s"},
		{DecadeCount(0.1), "0.1"}, {DecadeCount(1e4), "10k"}, {DecadeCount(1e6), "1M"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
