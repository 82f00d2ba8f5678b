// Package format turns numbers into text for every iotrace output: counts,
// bytes, durations, percents and rates.
//
// There is one function per concept and style. The styles differ on
// purpose, and each output keeps to one:
//
//   - Compact (the dashboard, internal/ui): three significant digits and
//     k/M/G suffixes, so that a figure fits a narrow cell and a column of
//     them keeps its width as the values change every second:
//     Compact, Bytes, Duration, Percent, Rate.
//   - Fixed (the text reports of `iotrace report`, compare and diff,
//     internal/report): plain numbers with a fixed number of decimals, for
//     reading and diffing, with no suffixes that hide digits:
//     Fixed, FixedBytes, FixedDuration, FixedPercent, Tenths.
//   - Sweep (the table and summary of `iotrace bench`, internal/scaling):
//     the Fixed durations down to tenths of a nanosecond, per-call figures
//     with two decimals, and rates with fixed-decimal k/M suffixes:
//     FixedNs, PerCall, FixedCount, Ratio.
//   - Decade (the axis labels of the `iotrace bench` charts): one label per
//     power of ten, as short as it can be: DecadeDuration, DecadeCount.
//   - Plain (the Markdown of the overhead harness, bench/overhead, whose
//     column headers carry the units): Whole, Times, WholeRate.
package format

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ---- Compact: the dashboard ----

// Compact renders a count or rate compactly: whole numbers as such up to
// 9999, fractions with up to three significant digits and no trailing zeros
// (0.39, 2.5, 12.3), then k, M and G suffixes (12.3k, 1.5M).
func Compact(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	if v < 0 {
		return "-" + Compact(-v)
	}
	trim := func(s string) string {
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	switch {
	case v == 0:
		return "0"
	case v < 0.01:
		return "<0.01"
	case v < 9.995:
		return trim(strconv.FormatFloat(v, 'f', 2, 64))
	case v < 99.95:
		return trim(strconv.FormatFloat(v, 'f', 1, 64))
	case v < 9999.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 999_950:
		return trim(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	case v < 999_950_000:
		return trim(strconv.FormatFloat(v/1e6, 'f', 2, 64)) + "M"
	}
	return trim(strconv.FormatFloat(v/1e9, 'f', 2, 64)) + "G"
}

// Bytes renders a byte count with binary units: 0 B, 512 B, 1.50 KiB,
// 80.0 KiB, 12.3 MiB.
func Bytes(v float64) string {
	if v < 0 || math.IsNaN(v) {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return Compact(v) + " B"
	}
	return sig3(v) + " " + units[u]
}

// Duration renders nanoseconds with three significant digits: 850ns,
// 1.02us, 12.3us, 123us, 4.56ms, 1.20s, 2m03s.
func Duration(ns uint64) string {
	switch {
	case ns < 1000:
		return fmt.Sprintf("%dns", ns)
	case ns < 1000_000:
		return sig3(float64(ns)/1e3) + "us"
	case ns < 1000_000_000:
		return sig3(float64(ns)/1e6) + "ms"
	case ns < 100*1000_000_000:
		return sig3(float64(ns)/1e9) + "s"
	}
	d := time.Duration(ns).Round(time.Second)
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// sig3 prints v (>= 0) with three significant digits, keeping trailing
// zeros so that columns of figures keep their width: 1.20, 12.3, 123.
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// Percent renders a fraction (0.25) as a percentage (25%), with more
// decimals for small values: 0.39%, 4.5%, 100%.
func Percent(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return "-"
	}
	p := f * 100
	switch {
	case p == 0:
		return "0%"
	case p < 0.01:
		return "<0.01%"
	case p < 1:
		return strconv.FormatFloat(p, 'f', 2, 64) + "%"
	case p < 10:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// Rate renders a messages-per-second load rate, 0 meaning as fast as
// possible: max, 5000/s, 12.3k/s.
func Rate(r float64) string {
	if r <= 0 {
		return "max"
	}
	return Compact(r) + "/s"
}

// ---- Fixed: the text reports ----

// Fixed renders a figure with a fixed number of decimals by magnitude:
// whole numbers as such, otherwise none from 100 up, one from 10 up and
// two below (123, 12.3, 1.23).
func Fixed(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// FixedPercent renders a fraction as a percentage with two decimals:
// 0.25 is 25.00%.
func FixedPercent(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// FixedBytes renders a byte count with binary units and one decimal:
// 512 B, 1.5 KiB, 12.3 MiB.
func FixedBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// FixedDuration renders nanoseconds with fixed decimals by unit: 850ns,
// 12.3us, 4.56ms, 1.20s.
func FixedDuration(ns uint64) string {
	switch {
	case ns < 1000:
		return fmt.Sprintf("%dns", ns)
	case ns < 1000_000:
		return fmt.Sprintf("%.1fus", float64(ns)/1e3)
	case ns < 1000_000_000:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.2fs", float64(ns)/1e9)
}

// Tenths renders a non-negative mean as a whole number when it is one,
// else with one decimal: 3, 2.5, 3.3.
func Tenths(v float64) string {
	if v == float64(uint64(v)) {
		return fmt.Sprintf("%d", uint64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// FixedChange renders the relative change from a to b as a signed
// percentage with one decimal (+12.5%), "=" when there is none and "new"
// from zero.
func FixedChange(a, b float64) string {
	switch {
	case a == b:
		return "="
	case a == 0:
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", 100*(b-a)/a)
}

// ---- Sweep: the iotrace bench table ----

// FixedNs renders nanoseconds as FixedDuration does, keeping tenths below
// 10 ns: 0.7ns, 660ns, 35.0us.
func FixedNs(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1fns", v)
	}
	return FixedDuration(uint64(math.Round(v)))
}

// PerCall renders a per-call figure: exact integers as such, else two
// decimals (none from 1000 up): 1, 0.25, 11.40, 1980.
func PerCall(v float64) string {
	switch {
	case v == math.Trunc(v) && v < 1e12:
		return fmt.Sprintf("%.0f", v)
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// FixedCount renders a count or rate with fixed decimals per suffix:
// 950, 482.0k, 1.25M.
func FixedCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// Ratio renders a ratio with three significant digits (two decimals below
// 10): 1500, 29.2, 0.50.
func Ratio(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// ---- Decade: chart axis labels ----

// DecadeDuration labels a decade of nanoseconds: 100ns, 1µs, 10ms, 1s.
func DecadeDuration(v float64) string {
	switch {
	case v < 1e3:
		return fmt.Sprintf("%gns", v)
	case v < 1e6:
		return fmt.Sprintf("%gµs", v/1e3)
	case v < 1e9:
		return fmt.Sprintf("%gms", v/1e6)
	}
	return fmt.Sprintf("%gs", v/1e9)
}

// DecadeCount labels a decade of a count: 0.1, 1, 100, 1k, 10M.
func DecadeCount(v float64) string {
	switch {
	case v < 1e3:
		return fmt.Sprintf("%g", v)
	case v < 1e6:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%gM", v/1e6)
}

// ---- Plain: the overhead harness's Markdown ----

// Whole renders a figure rounded to a whole number: 123.
func Whole(v float64) string { return fmt.Sprintf("%.0f", v) }

// Times renders a multiple with two decimals: 1.25x.
func Times(v float64) string { return fmt.Sprintf("%.2fx", v) }

// WholeRate renders a target rate per second as a whole number, 0 meaning
// as fast as possible: max, 50000.
func WholeRate(r float64) string {
	if r <= 0 {
		return "max"
	}
	return Whole(r)
}

// Style is one way of printing each kind of figure of the figure table
// (model.FigureTable), so that one renderer serves every view.
type Style struct {
	Count    func(float64) string // a count, or a count per second
	Ratio    func(float64) string // a mean per call
	Bytes    func(float64) string // bytes, or bytes per second
	Duration func(uint64) string  // nanoseconds
	Percent  func(float64) string // a fraction
}

// The figure table's styles: the dashboard's, and the text reports'.
var (
	CompactStyle = Style{Count: Compact, Ratio: Compact, Bytes: Bytes, Duration: Duration, Percent: Percent}
	FixedStyle   = Style{Count: Fixed, Ratio: Fixed, Bytes: FixedBytes, Duration: FixedDuration, Percent: FixedPercent}
)
