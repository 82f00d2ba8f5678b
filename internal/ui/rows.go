package ui

import (
	"sort"
	"strconv"
	"strings"

	"github.com/iotrace/iotrace/internal/format"
	"github.com/iotrace/iotrace/internal/model"
)

// procColumn describes one column of the process table; the same list
// drives the header, the cells and the sort keys.
type procColumn struct {
	title string
	// desc is the natural order: busiest first for figures, ascending for
	// names and ids.
	desc  bool
	left  bool
	cell  func(r *Row, interval bool) string
	value func(r *Row) float64 // nil: sort by text
	text  func(r *Row) string
}

func familiesText(fs []model.Family) string {
	if len(fs) == 0 {
		return "-"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, "+")
}

// rowFamily is the row's model, or "" when it uses several (or none).
func rowFamily(r *Row) model.Family {
	if len(r.Families) == 1 {
		return r.Families[0]
	}
	return ""
}

// figureColumn is a process-table column showing one figure of the figure
// table, printed and marked as the comparison prints it, sorted by value.
func figureColumn(title, key string) procColumn {
	g := model.FigureByKey(key)
	if g == nil {
		panic("ui: no figure " + key) // a typo in procColumns, caught by every test
	}
	return procColumn{title: title, desc: true,
		cell: func(r *Row, iv bool) string {
			if !iv {
				return "-"
			}
			text, _, _ := r.Meta.FigureText(g, &r.Fig, rowFamily(r), format.CompactStyle)
			return text
		},
		value: func(r *Row) float64 { return g.SortValue(&r.Fig) }}
}

var procColumns = []procColumn{
	{title: "PID", left: false,
		cell:  func(r *Row, _ bool) string { return strconv.Itoa(keyID(r.Key)) },
		value: func(r *Row) float64 { return float64(keyID(r.Key)) }},
	{title: "COMM", left: true,
		cell: func(r *Row, _ bool) string { return r.Comm },
		text: func(r *Row) string { return strings.ToLower(r.Comm) }},
	{title: "MODEL", left: true,
		cell: func(r *Row, _ bool) string { return familiesText(r.Families) },
		text: func(r *Row) string { return familiesText(r.Families) }},
	figureColumn("CALLS/s", "calls_per_sec"),
	figureColumn("FDS/CALL", "fds_per_call"),
	figureColumn("POLLS/CALL", "fd_polls_per_call"),
	figureColumn("BYTES/s", "bytes_per_sec"),
	figureColumn("P99", "latency_p99_ns"),
	figureColumn("WAKE/CALL", "wakeups_per_call"),
	figureColumn("READY/CALL", "ready_per_call"),
	{title: "CALLS", desc: true,
		cell:  func(r *Row, _ bool) string { return format.Compact(float64(r.TotalCalls)) },
		value: func(r *Row) float64 { return float64(r.TotalCalls) }},
}

// defaultSort is CALLS/s.
const defaultSort = 3

func keyID(k RowKey) int {
	if k.IsThread() {
		return k.Tid
	}
	return k.Pid
}

// sortRows orders rows (and, recursively, their threads) by column col,
// reversed from its natural order when reverse is set. Ties keep pid order.
func sortRows(rows []*Row, col int, reverse bool) []*Row {
	c := procColumns[col]
	out := append([]*Row(nil), rows...)
	less := func(a, b *Row) bool {
		var cmp int
		if c.value != nil {
			va, vb := c.value(a), c.value(b)
			switch {
			case va < vb:
				cmp = -1
			case va > vb:
				cmp = 1
			}
		} else {
			cmp = strings.Compare(c.text(a), c.text(b))
		}
		if c.desc {
			cmp = -cmp
		}
		if reverse {
			cmp = -cmp
		}
		if cmp != 0 {
			return cmp < 0
		}
		return keyID(a.Key) < keyID(b.Key)
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	for i, r := range out {
		if len(r.Threads) > 0 {
			cp := *r
			cp.Threads = sortRows(r.Threads, col, reverse)
			out[i] = &cp
		}
	}
	return out
}

// matches reports whether a row matches a filter: a case-insensitive
// substring of the comm, or a prefix of the pid/tid.
func matches(r *Row, filter string) bool {
	if filter == "" {
		return true
	}
	f := strings.ToLower(filter)
	return strings.Contains(strings.ToLower(r.Comm), f) || strings.HasPrefix(strconv.Itoa(keyID(r.Key)), f)
}

// filterRows keeps the processes that match the filter or have a thread
// that does. A process that matches keeps all its threads; otherwise only
// its matching threads are kept.
func filterRows(rows []*Row, filter string) []*Row {
	if filter == "" {
		return rows
	}
	var out []*Row
	for _, r := range rows {
		if matches(r, filter) {
			out = append(out, r)
			continue
		}
		var ts []*Row
		for _, t := range r.Threads {
			if matches(t, filter) {
				ts = append(ts, t)
			}
		}
		if len(ts) > 0 {
			cp := *r
			cp.Threads = ts
			cp.threadMatch = true
			out = append(out, &cp)
		}
	}
	return out
}

// tableLine is one line of the process table.
type tableLine struct {
	row        *Row
	expandable bool
	expanded   bool
	lastThread bool
}

// flatten lists the processes with the threads of the expanded ones (all of
// them when expandAll) below each. A process listed only because a filter
// matched some of its threads shows those threads.
func flatten(rows []*Row, expanded map[int]bool, expandAll bool) []tableLine {
	var out []tableLine
	for _, r := range rows {
		canExpand := len(r.Threads) > 1 || (len(r.Threads) == 1 && r.Threads[0].Key.Tid != r.Key.Pid)
		exp := canExpand && (expandAll || expanded[r.Key.Pid] || r.threadMatch)
		out = append(out, tableLine{row: r, expandable: canExpand, expanded: exp})
		if exp {
			for i, t := range r.Threads {
				out = append(out, tableLine{row: t, lastThread: i == len(r.Threads)-1})
			}
		}
	}
	return out
}
