package ui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/iotrace/iotrace/internal/format"
	"github.com/iotrace/iotrace/internal/model"
)

func escape(s string) string { return tview.Escape(s) }

// widgets are the tview primitives. They are filled by render only.
type widgets struct {
	root     *layout
	header   *tview.TextView
	footer   *tview.TextView
	comp     *tview.Table
	notes    *tview.TextView
	compView *tview.Flex
	procs    *tview.Table
	detail   *tview.TextView
	help     *tview.TextView
	views    [numViews]tview.Primitive
	focused  int
}

func newWidgets(d *Dashboard) *widgets {
	w := &widgets{focused: -1}
	w.header = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	w.footer = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	w.comp = tview.NewTable().SetFixed(1, 1).SetSelectable(false, false)
	w.notes = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	w.compView = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(w.comp, 0, 1, true).
		AddItem(w.notes, 0, 0, false)
	w.compView.SetBorder(true).SetTitle(" Comparison ")
	// PID and COMM stay in place when the table scrolls sideways.
	w.procs = tview.NewTable().SetFixed(1, 2).SetSelectable(true, false)
	w.procs.SetBorder(true).SetTitle(" Processes ")
	w.detail = tview.NewTextView().SetDynamicColors(true).SetWrap(false).SetScrollable(true)
	w.detail.SetBorder(true).SetTitle(" Detail ")
	w.help = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	w.help.SetBorder(true).SetTitle(" iotrace keys ")
	w.views = [numViews]tview.Primitive{w.compView, w.procs, w.detail}
	w.root = &layout{Box: tview.NewBox(), d: d, w: w}
	return w
}

// rect is a screen area.
type rect struct{ x, y, w, h int }

func (r rect) visible() bool { return r.w > 0 && r.h > 0 }

// geometry places the parts of the screen.
type geometry struct {
	wide           bool
	header, footer rect
	views          [numViews]rect
}

// Layout limits.
const (
	wideMinWidth  = 100
	minProcsRows  = 8  // process table height (with border) in the wide layout
	minDetailCols = 40 // detail width beside the comparison in the wide layout
	maxTopRows    = 24
)

// computeLayout places the views on a w×h screen. Large screens show all
// three views (comparison and detail side by side over the process table);
// small ones show the focused view alone between header and footer.
// compW and compH are the comparison view's natural size.
func computeLayout(w, h, headerH, compW, compH, focus int) geometry {
	var g geometry
	if headerH > h {
		headerH = h
	}
	g.header = rect{0, 0, w, headerH}
	if h-headerH >= 1 {
		g.footer = rect{0, h - 1, w, 1}
	}
	bodyY, bodyH := headerH, h-headerH-1
	if bodyH <= 0 {
		return g
	}
	top := compH
	if alt := bodyH / 2; alt > top {
		top = alt
	}
	if top > maxTopRows && top > compH {
		top = maxTopRows
		if compH > top {
			top = compH
		}
	}
	if w >= wideMinWidth && bodyH-top >= minProcsRows {
		g.wide = true
		cw := compW
		if cw > w-minDetailCols {
			cw = w - minDetailCols
		}
		g.views[viewComparison] = rect{0, bodyY, cw, top}
		g.views[viewDetail] = rect{cw, bodyY, w - cw, top}
		g.views[viewProcesses] = rect{0, bodyY + top, w, bodyH - top}
		return g
	}
	g.views[focus] = rect{0, bodyY, w, bodyH}
	return g
}

// layout is the root primitive: it places the views according to
// computeLayout and draws the help overlay on top.
type layout struct {
	*tview.Box
	d *Dashboard
	w *widgets
	// Filled by render.
	headerH, compW, compH, focus int
	help                         bool
	helpW, helpH                 int
	drawn                        [2]int
}

func (l *layout) Draw(screen tcell.Screen) {
	x0, y0, w, h := l.GetRect()
	g := computeLayout(w, h, l.headerH, l.compW, l.compH, l.focus)
	place := func(p tview.Primitive, r rect) {
		if !r.visible() {
			return
		}
		p.SetRect(x0+r.x, y0+r.y, r.w, r.h)
		p.Draw(screen)
	}
	place(l.w.header, g.header)
	for i, p := range l.w.views {
		place(p, g.views[i])
	}
	place(l.w.footer, g.footer)
	if l.help {
		hw, hh := l.helpW, l.helpH
		if hw > w-2 {
			hw = w - 2
		}
		if hh > h-2 {
			hh = h - 2
		}
		place(l.w.help, rect{(w - hw) / 2, (h - hh) / 2, hw, hh})
	}
	// The widgets' text depends on the size; refill them after a resize.
	if l.drawn != [2]int{w, h} {
		l.drawn = [2]int{w, h}
		if l.d.ui.size != l.drawn {
			l.d.requestRedraw()
		}
	}
}

func (l *layout) Focus(delegate func(p tview.Primitive)) {
	delegate(l.w.views[l.focus])
}

func (l *layout) HasFocus() bool {
	for _, p := range l.w.views {
		if p.HasFocus() {
			return true
		}
	}
	return l.Box.HasFocus()
}

func (l *layout) InputHandler() func(*tcell.EventKey, func(tview.Primitive)) {
	return l.WrapInputHandler(func(ev *tcell.EventKey, setFocus func(tview.Primitive)) {
		for _, p := range l.w.views {
			if p.HasFocus() {
				if h := p.InputHandler(); h != nil {
					h(ev, setFocus)
				}
				return
			}
		}
	})
}

// render refills every widget from the state. It runs on the UI goroutine
// only: inside QueueUpdateDraw closures (and once in New, before the
// application runs).
func (d *Dashboard) render() {
	w, h := d.size()
	d.ui.size = [2]int{w, h}
	l := d.w.root
	l.headerH = d.renderHeader()
	l.compW, l.compH = d.renderComparison()
	l.focus = d.ui.focus
	l.help = d.ui.help
	g := computeLayout(w, h, l.headerH, l.compW, l.compH, l.focus)
	d.renderProcesses()
	d.ui.page = g.views[viewProcesses].h - 3 // borders and column titles
	dw := g.views[viewDetail].w
	if !g.views[viewDetail].visible() {
		dw = w
	}
	d.renderDetail(dw - 2)
	d.renderFooter(g)
	if d.ui.help {
		d.renderHelp(w, h)
	}
	if d.w.focused != d.ui.focus {
		d.w.focused = d.ui.focus
		d.app.SetFocus(d.w.views[d.ui.focus])
	}
}

// renderHelp fills the help overlay for a w×h screen: the key table in
// one column, or two when one does not fit in height and there is room
// for two, then the notes. It scrolls when it does not fit.
func (d *Dashboard) renderHelp(w, h int) {
	avail := w - 4 // inside the border, one cell of margin each side
	notes := helpNotes
	if d.demo != nil {
		notes = append(append([]string(nil), helpNotes...), demoHelpNotes...)
	}
	text, tw, th := helpText(d.keys, notes, 1, min(avail, maxHelpCol1))
	if th > h-4 && avail/2 >= minHelpCol2 {
		text, tw, th = helpText(d.keys, notes, 2, min(avail/2, maxHelpCol2))
	}
	l := d.w.root
	l.helpW, l.helpH = tw+2, th+2
	// The overlay's inner height as layout.Draw will place it.
	inner := min(l.helpH, h-2) - 2
	maxScroll := max(0, th-max(inner, 0))
	d.ui.helpScroll = max(0, min(d.ui.helpScroll, maxScroll))
	d.ui.helpPage = max(1, inner)
	title := " iotrace keys "
	if maxScroll > 0 {
		title = fmt.Sprintf(" iotrace keys %d-%d/%d ↑↓ ", d.ui.helpScroll+1, d.ui.helpScroll+min(inner, th), th)
	}
	d.w.help.SetTitle(title)
	d.w.help.SetText(text)
	d.w.help.ScrollTo(d.ui.helpScroll, 0)
}

// Colors.
const (
	colLabel = "[teal]"
	colWarn  = "[yellow]"
	colBad   = "[red::b]"
	colDim   = "[gray]"
	colEnd   = "[-:-:-]"
)

func (d *Dashboard) renderHeader() int {
	snap := d.st.Snapshot()
	meta := snap.Meta
	mode, reason := d.info.ProbeMode, d.info.ModeReason
	if mode == "" {
		mode = meta.ProbeMode
	}
	if mode == "" {
		mode = "?"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[::b]iotrace[::-]  %sprobes%s %s", colLabel, colEnd, escape(mode))
	if reason != "" {
		fmt.Fprintf(&b, " %s(%s)%s", colDim, escape(reason), colEnd)
	}
	if meta.Kernel != "" {
		fmt.Fprintf(&b, "  %skernel%s %s", colLabel, colEnd, escape(meta.Kernel))
	}
	b.WriteString("\n")

	sep := " " + colDim + "│" + colEnd + " "
	var parts []string
	if d.paused.Load() {
		parts = append(parts, "[black:yellow:b] PAUSED "+colEnd)
	}
	if d.ui.ended {
		parts = append(parts, "[black:teal:b] REPLAY ENDED "+colEnd)
	}
	targets := "-"
	if len(meta.Targets) > 0 {
		targets = strings.Join(meta.Targets, ", ")
	}
	parts = append(parts, colLabel+"targets"+colEnd+" "+escape(truncate(targets, 40)))
	exited := 0
	for _, p := range snap.Processes {
		if p.Exited {
			exited++
		}
	}
	procs := fmt.Sprintf("%sprocs%s %d", colLabel, colEnd, len(snap.Processes)-exited)
	if exited > 0 {
		procs += fmt.Sprintf(" %s(+%d exited)%s", colDim, exited, colEnd)
	}
	parts = append(parts, procs)
	parts = append(parts, colLabel+"interval"+colEnd+" "+d.info.Interval.String())
	if d.info.CommandLog != "" {
		parts = append(parts, colLabel+"command output"+colEnd+" "+escape(d.info.CommandLog))
	}
	lost := fmt.Sprintf("%slost%s %d", colLabel, colEnd, meta.LostEvents)
	if meta.LostEvents > 0 {
		lost = fmt.Sprintf("%slost %d%s", colBad, meta.LostEvents, colEnd)
	}
	parts = append(parts, lost)
	parts = append(parts, costText(d.st.Cost(), d.st.Samples()))
	b.WriteString(strings.Join(parts, sep))

	lines := 2
	if len(meta.Unavailable) > 0 {
		keys := make([]string, 0, len(meta.Unavailable))
		for k := range meta.Unavailable {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "\n%sunavailable in this mode:%s %s", colWarn, colEnd, escape(strings.Join(keys, ", ")))
		if why := meta.Unavailable[keys[0]]; why != "" {
			fmt.Fprintf(&b, " %s(%s)%s", colDim, escape(why), colEnd)
		}
		lines++
	}
	d.w.header.SetText(b.String())
	return lines
}

// costText describes the tracer's own cost: "BPF 1.23 ms/s".
func costText(c CostRate, samples int) string {
	switch {
	case c.Known:
		s := fmt.Sprintf("%sBPF%s %s ms/s", colLabel, colEnd, format.Compact(c.MsPerSec))
		if c.RunsPerSec > 0 {
			s += fmt.Sprintf(" %s(%s runs/s, %s/run)%s", colDim, format.Compact(c.RunsPerSec), format.Duration(uint64(c.NsPerRun)), colEnd)
		}
		return s
	case c.Why != "":
		return colLabel + "BPF cost" + colEnd + " " + colWarn + escape(c.Why) + colEnd
	case samples < 2:
		return colLabel + "BPF" + colEnd + " …"
	}
	return colLabel + "BPF cost" + colEnd + " n/a"
}

// compRow is one row of the comparison view: a figure of the figure
// table, or (demo only) one of the workloads' own counts under it.
type compRow struct {
	label string
	fig   *model.Figure
	demo  bool // shown only with a Demo
	truth bool // the workload's own figure
	cell  func(c *Column, iv bool) string
}

func truthCell(c *Column, v float64, f func(float64) string) string {
	if !c.Truth.Valid {
		return "-"
	}
	return f(v)
}

// truthRows are the workloads' own counts, shown in the demo under the
// figure they check (by label).
var truthRows = map[string][]compRow{
	"calls/s": {
		{label: "  workload calls/s", cell: func(c *Column, _ bool) string { return truthCell(c, c.Truth.CallsPerSec, format.Compact) }},
		{label: "  workload msgs/s", cell: func(c *Column, _ bool) string { return truthCell(c, c.Truth.MsgsPerSec, format.Compact) }},
	},
	"ready/call": {
		{label: "  workload ready/call", cell: func(c *Column, _ bool) string {
			if c.Unmeasured != "" {
				return "n/a" // no readiness events: the model does not multiplex
			}
			if c.Truth.CallsPerSec == 0 {
				return "-"
			}
			return truthCell(c, c.Truth.ReadyPerCall, format.Compact)
		}},
	},
}

// figureCell prints figure g of a column: "-" before the first interval,
// else as the figure table says.
func figureCell(g *model.Figure, c *Column, iv bool) string {
	if !iv {
		return "-"
	}
	if c.Unmeasured != "" {
		return "n/a"
	}
	text, _, _ := c.Meta.FigureText(g, &c.Fig, c.Family, format.CompactStyle)
	return text
}

// compRows are the comparison's rows: the figure table's dashboard
// figures, each followed in the demo by the workloads' counts it checks.
var compRows = func() []compRow {
	var rows []compRow
	for _, g := range model.FiguresIn(model.InDashboard) {
		rows = append(rows, compRow{label: g.Label, fig: g, cell: func(c *Column, iv bool) string { return figureCell(g, c, iv) }})
		for _, t := range truthRows[g.Label] {
			t.demo, t.truth = true, true
			rows = append(rows, t)
		}
	}
	return rows
}()

// maxCompColumns caps the comparison's columns (it scrolls sideways).
const maxCompColumns = 12

// renderComparison fills the comparison view and returns its natural size
// (with border).
func (d *Dashboard) renderComparison() (int, int) {
	t := d.w.comp
	t.Clear()
	cols := d.st.Columns(maxCompColumns)
	iv := d.st.HasInterval()
	withDemo := d.demo != nil

	// Header rows: the model name (demo) or comm, then pid and family for
	// traced processes.
	headRows := 1
	if !withDemo {
		headRows = 2
	}
	t.SetFixed(headRows, 1)
	t.SetCell(0, 0, tview.NewTableCell(""))
	widths := make([]int, len(cols)+1)
	set := func(r, c int, text string, cell *tview.TableCell) {
		if n := tview.TaggedStringWidth(text); n > widths[c] {
			widths[c] = n
		}
		t.SetCell(r, c, cell)
	}
	for i, c := range cols {
		name := c.Name
		if c.Status != "" {
			name += "*"
		}
		set(0, i+1, name, tview.NewTableCell(escape(name)).SetAlign(tview.AlignRight).SetAttributes(tcell.AttrBold).SetTextColor(tcell.ColorYellow))
		if !withDemo {
			sub := fmt.Sprintf("%d %s", c.Pid, c.Family)
			set(1, i+1, sub, tview.NewTableCell(escape(sub)).SetAlign(tview.AlignRight).SetTextColor(tcell.ColorGray))
		}
	}
	r := headRows
	for _, row := range compRows {
		if row.demo && !withDemo {
			continue
		}
		lc := tview.NewTableCell(row.label).SetTextColor(tcell.ColorTeal)
		if row.truth {
			lc.SetTextColor(tcell.ColorGreen)
		}
		set(r, 0, row.label, lc)
		for i := range cols {
			text := row.cell(&cols[i], iv)
			cell := tview.NewTableCell(text).SetAlign(tview.AlignRight)
			if row.truth {
				cell.SetTextColor(tcell.ColorGreen)
			}
			set(r, i+1, text, cell)
		}
		r++
	}

	// Notes below the table: status of demo models, or why it is empty.
	var notes []string
	for _, c := range cols {
		if c.Status != "" {
			notes = append(notes, fmt.Sprintf("%s%s*%s %s", colWarn, escape(c.Name), colEnd, escape(c.Status)))
		}
	}
	if d.ui.ended {
		notes = append(notes, colWarn+"replay ended: the last recorded interval stays on screen"+colEnd)
	}
	switch {
	case d.st.Latest() == nil:
		notes = append(notes, colDim+"waiting for the first snapshot…"+colEnd)
	case !iv:
		notes = append(notes, colDim+"rates appear after the second snapshot…"+colEnd)
	case len(cols) == 0:
		notes = append(notes, colDim+"no select/poll/epoll calls in the last interval"+colEnd)
	}
	estimated := false
	if len(cols) > 0 {
		var fams []model.Family
		for _, c := range cols {
			fams = append(fams, c.Family)
		}
		estimated = len(cols[0].Meta.EstimatedCounters(model.InputsOf(model.FiguresIn(model.InDashboard)), fams)) > 0
	}
	d.w.notes.SetText(strings.Join(notes, "\n"))
	d.w.compView.ResizeItem(d.w.notes, len(notes), 0)

	title := " Comparison "
	if iv {
		title = fmt.Sprintf(" Comparison, last %s ", roundInterval(d.st.Interval()))
	}
	if estimated {
		title += "(~ estimated) " // which figures and by what model: the help
	}
	if withDemo {
		title += "─ demo " + ParamsText(d.ui.params) + " "
	}
	d.w.compView.SetTitle(title)

	width := 2 // border
	for _, n := range widths {
		width += n + 1
	}
	if tw := tview.TaggedStringWidth(title) + 4; tw > width {
		width = tw
	}
	for _, n := range notes {
		width = max(width, tview.TaggedStringWidth(n)+2)
	}
	return width, r + len(notes) + 2
}

func roundInterval(dt time.Duration) string {
	if dt >= time.Second {
		return dt.Round(10 * time.Millisecond).String()
	}
	return dt.Round(time.Millisecond).String()
}

// renderProcesses fills the process table.
func (d *Dashboard) renderProcesses() {
	t := d.w.procs
	t.Clear()
	iv := d.st.HasInterval()
	for i, c := range procColumns {
		title := c.title
		if i == d.ui.sortCol {
			if c.desc != d.ui.reverse {
				title += "▼"
			} else {
				title += "▲"
			}
		}
		cell := tview.NewTableCell(title).SetSelectable(false).SetAttributes(tcell.AttrBold).SetTextColor(tcell.ColorYellow)
		if !c.left {
			cell.SetAlign(tview.AlignRight)
		}
		t.SetCell(0, i, cell)
	}
	lines := d.tableLines()
	sel := d.selectedIndex(lines)
	for li, l := range lines {
		for i, c := range procColumns {
			text := c.cell(l.row, iv)
			if c.title == "COMM" {
				text = commPrefix(l) + truncate(text, 16)
			}
			cell := tview.NewTableCell(escape(text))
			if !c.left {
				cell.SetAlign(tview.AlignRight)
			}
			switch {
			case l.row.Exited:
				cell.SetTextColor(tcell.ColorGray)
			case l.row.Key.IsThread():
				cell.SetTextColor(tcell.ColorSilver)
			}
			t.SetCell(li+1, i, cell)
		}
	}
	if len(lines) > 0 {
		d.ui.selIndex = sel
		d.ui.selected = lines[sel].row.Key
		t.Select(sel+1, 0)
	} else {
		d.ui.selIndex = 0
		d.ui.selected = RowKey{}
	}
	listed, hidden := d.listedRows()
	title := fmt.Sprintf(" Processes %d", len(listed))
	switch {
	case hidden > 0:
		title += fmt.Sprintf(" (%d replaced hidden, x shows)", hidden)
	case d.ui.showReplaced && d.demo != nil:
		title += " (with replaced, x hides)"
	}
	title += ", sort " + procColumns[d.ui.sortCol].title
	if d.ui.reverse {
		title += " (inverted)"
	}
	if d.ui.filter != "" || d.ui.editing {
		title += ", filter /" + escape(d.ui.filter)
		if d.ui.editing {
			title += "_"
		}
	}
	t.SetTitle(title + " ")
}

func commPrefix(l tableLine) string {
	switch {
	case l.row.Key.IsThread() && l.lastThread:
		return " └ "
	case l.row.Key.IsThread():
		return " ├ "
	case l.expanded:
		return "▾ "
	case l.expandable:
		return "▸ "
	}
	return "  "
}

// renderDetail fills the detail view for the selected row; width is its
// inner width.
func (d *Dashboard) renderDetail(width int) {
	if width < 20 {
		width = 20
	}
	r := d.st.Row(d.ui.selected)
	if r == nil {
		d.w.detail.SetTitle(" Detail ")
		d.w.detail.SetText(colDim + "no process selected" + colEnd)
		return
	}
	proc := d.st.Row(RowKey{Pid: r.Key.Pid})
	iv := d.st.HasInterval()
	var b strings.Builder
	line := func(tmpl string, args ...any) {
		fmt.Fprintf(&b, tmpl, args...)
		b.WriteByte('\n')
	}
	kind := "process"
	if r.Key.IsThread() {
		kind = fmt.Sprintf("thread %d of", r.Key.Tid)
	}
	title := fmt.Sprintf(" %s %s %d ", escape(r.Comm), kind, r.Key.Pid)
	if r.Exited {
		title += "(exited) "
	}
	d.w.detail.SetTitle(title)

	f := r.Fig
	if iv && f.Calls > 0 {
		var grid [][2]string
		for _, g := range model.FiguresIn(model.InDetail) {
			text, _, _ := r.Meta.FigureText(g, &f, "", format.CompactStyle)
			grid = append(grid, [2]string{g.ShortLabel(), text})
		}
		b.WriteString(figureGrid(grid, width))
	} else if iv {
		line("%sno calls in the last interval%s (%s calls so far)", colDim, colEnd, format.Compact(float64(r.TotalCalls)))
	} else {
		line("%s%s calls so far; rates after the next snapshot%s", colDim, format.Compact(float64(r.TotalCalls)), colEnd)
	}
	line("%ssyscalls%s %s", colLabel, colEnd, syscallsText(r, iv, d.st.Interval()))

	// Sparklines of the last intervals.
	calls, bytes := d.st.History(r.Key)
	sw := width - 26
	if sw < 8 {
		sw = 8
	}
	peak := func(v []float64) float64 {
		m := 0.0
		for _, x := range v {
			if x > m {
				m = x
			}
		}
		return m
	}
	if len(calls) > 0 {
		cv, bv := tail(calls, sw), tail(bytes, sw)
		line("%scalls/s%s [green]%s[-] %speak%s %s", colLabel, colEnd, padRight(Sparkline(cv, sw), sw), colDim, colEnd, format.Compact(peak(cv)))
		line("%sbytes/s%s [green]%s[-] %speak%s %s", colLabel, colEnd, padRight(Sparkline(bv, sw), sw), colDim, colEnd, format.Bytes(peak(bv)))
	}

	// Latency histogram of the interval, or since the start when the
	// interval has no calls.
	h := f.Latency
	what := "last interval"
	if !iv || f.Calls == 0 {
		h = r.Cum.Total(waits).Latency
		what = "since start"
	}
	if h.Count > 0 {
		line("%slatency%s %s(%s, %s calls)%s p50<=%s p99<=%s max %s",
			colLabel, colEnd, colDim, what, format.Compact(float64(h.Count)), colEnd, format.Duration(h.Quantile(0.5)),
			format.Duration(h.Quantile(0.99)), format.Duration(h.Max))
		bw := width - 18
		if bw > 40 {
			bw = 40
		}
		for _, l := range HistogramLines(&h, bw) {
			line(" %s", l)
		}
	}

	// Epoll instances belong to the process.
	if proc != nil && len(proc.Epoll) > 0 {
		line("%sepoll instances%s", colLabel, colEnd)
		for _, e := range proc.Epoll {
			reg := "?"
			if e.Registered != nil {
				reg = strconv.FormatInt(*e.Registered, 10)
			}
			cb := "n/a"
			if e.EpPollCallbacks != nil {
				cb = format.Compact(float64(*e.EpPollCallbacks))
				if e.CallbacksPerSec != nil {
					cb += " (" + format.Compact(*e.CallbacksPerSec) + "/s)"
				}
				if e.CallbacksAlreadyQueued != nil {
					cb += ", already queued " + format.Compact(float64(*e.CallbacksAlreadyQueued))
				}
			}
			line(" epfd %d: registered %s, ctl add %d mod %d del %d, callbacks %s",
				e.Epfd, reg, e.Ctl.Add, e.Ctl.Mod, e.Ctl.Del, cb)
		}
	}
	d.w.detail.SetText(strings.TrimRight(b.String(), "\n"))
}

// figureGrid lays out label/value pairs in as many columns as fit in width.
func figureGrid(pairs [][2]string, width int) string {
	lw, vw := 0, 0
	for _, p := range pairs {
		if n := len([]rune(p[0])); n > lw {
			lw = n
		}
		if n := len([]rune(p[1])); n > vw {
			vw = n
		}
	}
	cellW := lw + 1 + vw + 3
	cols := (width + 3) / cellW
	if cols < 1 {
		cols = 1
	}
	var b strings.Builder
	for i, p := range pairs {
		fmt.Fprintf(&b, "%s%-*s%s %*s", colLabel, lw, p[0], colEnd, vw, escape(p[1]))
		if (i+1)%cols == 0 || i == len(pairs)-1 {
			b.WriteByte('\n')
		} else {
			b.WriteString("   ")
		}
	}
	return b.String()
}

func tail(v []float64, n int) []float64 {
	if len(v) > n {
		return v[len(v)-n:]
	}
	return v
}

func padRight(s string, n int) string {
	if k := len([]rune(s)); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// syscallsText lists a row's syscalls: rates over the interval, else
// cumulative counts.
func syscallsText(r *Row, iv bool, dt time.Duration) string {
	var parts []string
	for _, sc := range r.Cum.Sorted() {
		if iv && r.Delta != nil {
			if st := r.Delta[sc]; st != nil && st.Calls > 0 {
				parts = append(parts, fmt.Sprintf("%s %s/s", sc, format.Compact(float64(st.Calls)/dt.Seconds())))
			}
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", sc, format.Compact(float64(r.Cum[sc].Calls))))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// renderFooter fills the status line: the filter being typed, a message,
// or the main keys; in the small layout, which view is shown.
func (d *Dashboard) renderFooter(g geometry) {
	var b strings.Builder
	if !g.wide {
		for i, n := range viewNames {
			if i == d.ui.focus {
				fmt.Fprintf(&b, "[black:teal] %s [-:-:-]", n)
			} else {
				fmt.Fprintf(&b, " %s%s%s ", colDim, n, colEnd)
			}
		}
		b.WriteString(" ")
	}
	switch {
	case d.ui.editing:
		fmt.Fprintf(&b, "filter: /%s_  %s(Enter keep, Esc clear)%s", escape(d.ui.filter), colDim, colEnd)
	case d.ui.err != "":
		fmt.Fprintf(&b, "%ssnapshot: %s%s", colBad, escape(d.ui.err), colEnd)
	case d.ui.message != "" && d.ui.msgError:
		fmt.Fprintf(&b, "%s%s%s", colBad, escape(d.ui.message), colEnd)
	case d.ui.message != "":
		fmt.Fprintf(&b, "%s%s%s", colWarn, escape(d.ui.message), colEnd)
	default:
		hints := "[yellow]?[-] help [yellow]q[-] quit [yellow]p[-] pause [yellow]Tab[-] view [yellow]/[-] filter [yellow]s[-] sort"
		if d.demo != nil {
			hints += " [yellow]+-[-] N [yellow]aA[-] active [yellow]rR[-] rate"
		}
		b.WriteString(hints)
	}
	d.w.footer.SetText(b.String())
}
