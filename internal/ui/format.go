package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/iotrace/iotrace/internal/format"
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
		lines = append(lines, fmt.Sprintf("%6s │%s%s %*d", format.Duration(lo), bar, strings.Repeat(" ", pad), countW, n))
	}
	return lines
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
