package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

// sparkRunes are the eight levels of a sparkline, lowest first.
var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws the last width values as one line of block characters,
// scaled to the largest of them. Zero (and negative) values are blanks, so
// that an idle interval is told apart from a small one; every positive value
// is at least ▁. Fewer values than width give a shorter line.
func Sparkline(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	max := 0.0
	for _, v := range values {
		if v > max {
			max = v
		}
	}
	var b strings.Builder
	for _, v := range values {
		if v <= 0 || max <= 0 {
			b.WriteRune(' ')
			continue
		}
		i := int(math.Ceil(v/max*float64(len(sparkRunes)))) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(sparkRunes) {
			i = len(sparkRunes) - 1
		}
		b.WriteRune(sparkRunes[i])
	}
	return b.String()
}

// barRunes are the partial blocks of a horizontal bar, in eighths.
var barRunes = []rune(" ▏▎▍▌▋▊▉")

// Bar draws a horizontal bar of v/max of width cells, with eighth-cell
// resolution. A positive v always shows at least ▏.
func Bar(v, max uint64, width int) string {
	if width <= 0 || max == 0 || v == 0 {
		return ""
	}
	if v > max {
		v = max
	}
	eighths := int(v * uint64(width) * 8 / max)
	if eighths == 0 {
		eighths = 1
	}
	return strings.Repeat("█", eighths/8) + strings.TrimRight(string(barRunes[eighths%8]), " ")
}

// HistogramLines renders a log2 latency histogram as text bars, one line per
// bucket from the first to the last non-empty one: the bucket's lower bound
// (the bucket holds [lo, 2·lo)), a bar scaled to the fullest bucket and the count. Empty histograms give no
// lines.
func HistogramLines(h *model.Histogram, barWidth int) []string {
	first, last := -1, -1
	var max uint64
	for i, n := range h.Buckets {
		if n == 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
		if n > max {
			max = n
		}
	}
	if first < 0 {
		return nil
	}
	countW := len(strconv.FormatUint(max, 10))
	lines := make([]string, 0, last-first+1)
	for i := first; i <= last; i++ {
		lo, _ := model.BucketBounds(i)
		n := h.Buckets[i]
		bar := Bar(n, max, barWidth)
		pad := barWidth - len([]rune(bar))
		if pad < 0 {
			pad = 0
		}
		lines = append(lines, fmt.Sprintf("%6s │%s%s %*d", HumanDuration(lo), bar, strings.Repeat(" ", pad), countW, n))
	}
	return lines
}

// HumanBytes renders a byte count with binary units: 0 B, 512 B, 1.5 KiB,
// 80 KiB, 12.3 MiB.
func HumanBytes(v float64) string {
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
		return Num(v) + " B"
	}
	return sig3(v) + " " + units[u]
}

// HumanDuration renders nanoseconds with three significant digits: 850ns,
// 1.02us, 12.3us, 123us, 4.56ms, 1.20s, 2m03s.
func HumanDuration(ns uint64) string {
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

// Num renders a count or rate compactly: whole numbers as such up to 9999,
// fractions with up to three significant digits and no trailing zeros
// (0.39, 2.5, 12.3), then k, M and G suffixes (12.3k, 1.5M).
func Num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	if v < 0 {
		return "-" + Num(-v)
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
// possible.
func Rate(r float64) string {
	if r <= 0 {
		return "max"
	}
	return Num(r) + "/s"
}

// truncate shortens s to at most n cells (runes), marking the cut with …
func truncate(s string, n int) string {
	r := []rune(s)
	if n <= 0 {
		return ""
	}
	if len(r) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}
