package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// region returns the screen lines inside a primitive's rectangle, and its
// position.
func (h *harness) region(p tview.Primitive) (lines []string, x0, y0 int) {
	x, y, w, hh := p.GetRect()
	all := h.lines()
	for row := y; row < y+hh && row < len(all); row++ {
		r := []rune(all[row])
		end := x + w
		if end > len(r) {
			end = len(r)
		}
		if x >= end {
			lines = append(lines, "")
			continue
		}
		lines = append(lines, string(r[x:end]))
	}
	return lines, x, y
}

func (h *harness) regionText(p tview.Primitive) string {
	l, _, _ := h.region(p)
	return strings.Join(l, "\n")
}

// labelRow finds the line of a bordered table whose text starts with label.
func labelRow(t *testing.T, lines []string, label string) string {
	t.Helper()
	for _, l := range lines {
		r := []rune(l)
		if len(r) > 1 && strings.HasPrefix(string(r[1:]), label+" ") {
			return l
		}
	}
	t.Fatalf("no row %q in\n%s", label, strings.Join(lines, "\n"))
	return ""
}

// endOf returns the cell column just past the first occurrence of s in line.
func endOf(t *testing.T, line, s string) int {
	t.Helper()
	x := runeIndex(line, s)
	if x < 0 {
		t.Fatalf("%q not in %q", s, line)
	}
	return x + len([]rune(s))
}

// endsAt reports whether want is written right-aligned to end at column end
// of line, as a whole cell.
func endsAt(line string, end int, want string) bool {
	r := []rune(line)
	w := []rune(want)
	if end > len(r) || end < len(w) {
		return false
	}
	if string(r[end-len(w):end]) != want {
		return false
	}
	before := end - len(w) - 1
	return before < 0 || r[before] == ' ' || r[before] == '│' || r[before] == '║'
}

func TestRenderWide(t *testing.T) {
	h := newHarness(t, 120, 40, &fakeSource{snaps: fixture(true)}, costSeq(10_000_000, 11_200_000), nil)
	h.tick()
	h.tick()

	hdr, _, hy := h.region(h.d.w.header)
	if hy != 0 {
		t.Errorf("header at row %d", hy)
	}
	for _, c := range []struct {
		line int
		want string
	}{
		{0, "probes fentry (auto: fentry allowed)"},
		{0, "kernel 6.18.0-test"},
		{1, "targets pid 100, pid 200"},
		{1, "interval 1s"},
		{1, "lost 0"},
		{1, "BPF 1.2 ms/s"},
	} {
		if !strings.Contains(hdr[c.line], c.want) {
			t.Errorf("header line %d = %q, want %q in it", c.line, hdr[c.line], c.want)
		}
	}

	// All three views at once: comparison and detail side by side, the
	// process table below them.
	cx, cy, cw, ch := h.d.w.compView.GetRect()
	dx, dy, _, _ := h.d.w.detail.GetRect()
	px, py, pw, _ := h.d.w.procs.GetRect()
	if cx != 0 || dy != cy || dx != cx+cw || px != 0 || py != cy+ch || pw != 120 {
		t.Errorf("layout: comparison %d,%d %dx%d, detail at %d,%d, processes at %d,%d width %d", cx, cy, cw, ch, dx, dy, px, py, pw)
	}

	// Comparison: one column per process and family, figures under their
	// column title.
	cmp, _, _ := h.region(h.d.w.compView)
	var title string
	for _, l := range cmp {
		if strings.Contains(l, "server") && strings.Contains(l, "nginx") {
			title = l
			break
		}
	}
	if title == "" {
		t.Fatalf("no column titles in comparison:\n%s", strings.Join(cmp, "\n"))
	}
	srv, ngx := endOf(t, title, "server"), endOf(t, title, "nginx")
	if srv >= ngx {
		t.Errorf("server (busiest) should come first: %q", title)
	}
	for _, c := range []struct{ label, server, nginx string }{
		{"calls/s", "2000", "1000"},
		// Estimates are marked: every fd_polls (a model in the BPF
		// program). This fixture is an fentry run, where epoll's
		// interest-list size is observed, so it is not marked.
		{"fds watched/call", "1000", "1000"},
		{"fd_polls/call", "~2000", "~3"},
		{"ready/call", "1", "3"},
		{"efficiency", "~0.05%", "~100%"},
		{"bytes copied/s", "19.1 MiB", "35.2 KiB"},
		{"bytes copied/call", "9.77 KiB", "36 B"},
		{"wakeups/call", "1", "1"},
		{"sleeps/call", "1", "1"},
		{"latency p50 <=", "5.00us", "100us"},
		{"latency p99 <=", "5.00us", "100us"},
		{"ready list/call", "-", "2"},
		{"ep_poll_callbacks/s", "-", "6000"},
	} {
		row := labelRow(t, cmp, c.label)
		if !endsAt(row, srv, c.server) || !endsAt(row, ngx, c.nginx) {
			t.Errorf("comparison %q: got %q, want %q under server and %q under nginx", c.label, row, c.server, c.nginx)
		}
	}
	sub := ""
	for i, l := range cmp {
		if l == title {
			sub = cmp[i+1]
		}
	}
	if !endsAt(sub, srv, "100 poll") || !endsAt(sub, ngx, "200 epoll") {
		t.Errorf("column subtitles: %q", sub)
	}

	// Process table: busiest first, figures under their headers.
	procs, _, _ := h.region(h.d.w.procs)
	head := procs[1]
	callsEnd := endOf(t, head, "CALLS/s▼")
	fdsEnd := endOf(t, head, "FDS/CALL")
	sr, nr := -1, -1
	for i, l := range procs {
		switch {
		case strings.Contains(l, " server "):
			sr = i
		case strings.Contains(l, "▸ nginx "):
			nr = i
		}
	}
	if sr != 2 || nr != 3 {
		t.Fatalf("process rows at %d and %d:\n%s", sr, nr, strings.Join(procs, "\n"))
	}
	if !endsAt(procs[sr], callsEnd, "2000") || !endsAt(procs[nr], callsEnd, "1000") || !endsAt(procs[sr], fdsEnd, "1000") {
		t.Errorf("process figures:\n%s\n%s\n%s", head, procs[sr], procs[nr])
	}
	if !strings.HasPrefix(strings.TrimLeft(procs[sr][len("│"):], " "), "100") {
		t.Errorf("pid column: %q", procs[sr])
	}

	// Detail of the selected (first) process.
	det, _, _ := h.region(h.d.w.detail)
	text := strings.Join(det, "\n")
	for _, want := range []string{"server process 100", "syscalls poll 2000/s", "p50<=5.00us", "4.10us │█"} {
		if !strings.Contains(text, want) {
			t.Errorf("detail lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(labelRow(t, det, "calls/s"), "2000") {
		t.Errorf("detail calls/s: %q", labelRow(t, det, "calls/s"))
	}
	var spark string
	for _, l := range det {
		if strings.Contains(l, "calls/s █") {
			spark = l
		}
	}
	if spark == "" || !strings.Contains(spark, "peak 2000") {
		t.Errorf("calls/s sparkline missing:\n%s", text)
	}
}

func TestRenderSmallShowsOneViewAtATime(t *testing.T) {
	h := newHarness(t, 80, 24, &fakeSource{snaps: fixture(true)}, nil, nil)
	h.tick()
	h.tick()
	screen := h.dump()
	if !strings.Contains(screen, "ep_poll_callbacks/s") || strings.Contains(screen, "CALLS/s▼") {
		t.Fatalf("80x24 should show the whole comparison alone:\n%s", screen)
	}
	cmp, _, _ := h.region(h.d.w.compView)
	row := labelRow(t, cmp, "calls/s")
	if !strings.Contains(row, "2000") || !strings.Contains(row, "1000") {
		t.Errorf("calls/s row: %q", row)
	}
	footer := h.lines()[23]
	if !strings.Contains(footer, "Comparison  Processes  Detail") {
		t.Errorf("footer: %q", footer)
	}
	h.key(tcell.KeyTab)
	screen = h.dump()
	if !strings.Contains(screen, "CALLS/s▼") || strings.Contains(screen, "fds watched/call") {
		t.Fatalf("Tab should show the process table:\n%s", screen)
	}
	if _, y := h.mustFind("server"); !strings.Contains(h.lines()[y], "2000") {
		t.Errorf("server row: %q", h.lines()[y])
	}
	h.key(tcell.KeyTab)
	if _, _, ok := h.find("server process 100"); !ok {
		t.Fatalf("Tab again should show the detail:\n%s", h.dump())
	}
	h.key(tcell.KeyBacktab)
	if _, _, ok := h.find("CALLS/s▼"); !ok {
		t.Fatalf("Shift-Tab should go back to the process table:\n%s", h.dump())
	}
	for _, l := range h.lines() {
		if n := len([]rune(l)); n != 80 {
			t.Fatalf("line of %d cells", n)
		}
	}
}

func TestRenderSmallDemoComparisonFits(t *testing.T) {
	snaps, models := demoFixture()
	h := newHarness(t, 80, 24, &fakeSource{snaps: snaps}, nil, &fakeDemo{params: LoadParams{Fds: 64, Active: 8}, models: models})
	h.tick()
	h.tick()
	cmp, _, _ := h.region(h.d.w.compView)
	// Every figure row and the status note are visible.
	for _, r := range compRows {
		labelRow(t, cmp, r.label)
	}
	if !strings.Contains(strings.Join(cmp, "\n"), "select* select cannot watch fd >= 1024 (FD_SETSIZE)") {
		t.Errorf("status note missing:\n%s", strings.Join(cmp, "\n"))
	}
	if !strings.Contains(cmp[0], "demo N=64 fds, 8 active, rate max") {
		t.Errorf("comparison title: %q", cmp[0])
	}
	var title string
	for _, l := range cmp {
		if strings.Contains(l, "select*") && strings.Contains(l, "epoll-lt") {
			title = l
		}
	}
	sel, pol, ep := endOf(t, title, "select*"), endOf(t, title, "poll"), endOf(t, title, "epoll-lt")
	for _, c := range []struct{ label, sel, poll, ep string }{
		{"calls/s", "100", "200", "400"},
		{"  workload calls/s", "100", "200", "400"},
		{"  workload msgs/s", "100", "250", "900"},
		{"fd_polls/call", "~64", "~64", "~2"},
		{"  workload ready/call", "1", "1", "2"},
		{"ready list/call", "-", "-", "3"},
		{"ep_poll_callbacks/s", "-", "-", "n/a"},
	} {
		row := labelRow(t, cmp, c.label)
		if !endsAt(row, sel, c.sel) || !endsAt(row, pol, c.poll) || !endsAt(row, ep, c.ep) {
			t.Errorf("%q: %q, want %s %s %s", c.label, row, c.sel, c.poll, c.ep)
		}
	}
}

func TestTracepointModeSaysNA(t *testing.T) {
	h := newHarness(t, 120, 40, &fakeSource{snaps: fixture(false)}, func() (uint64, uint64, bool, string) {
		return 0, 0, false, "BPF stats off"
	}, nil)
	h.tick()
	h.tick()
	hdr, _, _ := h.region(h.d.w.header)
	if len(hdr) < 3 || !strings.Contains(hdr[2], "unavailable in this mode: callbacks_already_queued, callbacks_ignored, ep_poll_callbacks") {
		t.Errorf("header:\n%s", strings.Join(hdr, "\n"))
	}
	if !strings.Contains(hdr[1], "BPF cost BPF stats off") {
		t.Errorf("cost should say why it is unknown: %q", hdr[1])
	}
	cmp, _, _ := h.region(h.d.w.compView)
	row := labelRow(t, cmp, "ep_poll_callbacks/s")
	if !strings.HasSuffix(strings.TrimRight(strings.TrimRight(row, "│║"), " "), "n/a") {
		t.Errorf("callbacks in tracepoint mode should be n/a: %q", row)
	}
	h.key(tcell.KeyTab)
	h.key(tcell.KeyDown)
	det := h.regionText(h.d.w.detail)
	if !strings.Contains(det, "epfd 7: registered 1000, ctl add 1000 mod 0 del 0, callbacks n/a") {
		t.Errorf("detail of nginx:\n%s", det)
	}
}

func TestLostEventsInRed(t *testing.T) {
	snaps := fixture(true)
	for _, s := range snaps {
		s.Meta.LostEvents = 3
	}
	h := newHarness(t, 120, 40, &fakeSource{snaps: snaps}, nil, nil)
	h.tick()
	x, y := h.mustFind("lost 3")
	_, _, style, _ := h.screen.GetContent(x, y)
	if fg, _, attr := style.Decompose(); fg != tcell.ColorRed || attr&tcell.AttrBold == 0 {
		t.Errorf("lost events shown in %v (attr %v), want bold red", fg, attr)
	}

	h2 := newHarness(t, 120, 40, &fakeSource{snaps: fixture(true)}, nil, nil)
	h2.tick()
	x, y = h2.mustFind("lost 0")
	_, _, style, _ = h2.screen.GetContent(x, y)
	if fg, _, _ := style.Decompose(); fg == tcell.ColorRed {
		t.Error("no lost events should not be red")
	}
}

// procOrder lists the pids/tids of the process table's rows, top down.
func procOrder(h *harness) []string {
	lines, _, _ := h.region(h.d.w.procs)
	var out []string
	for _, l := range lines[2 : len(lines)-1] {
		f := strings.Fields(strings.Trim(l, "│║ "))
		if len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

func TestKeysSortSelectExpandFilter(t *testing.T) {
	h := newHarness(t, 120, 40, &fakeSource{snaps: fixture(true)}, nil, nil)
	h.tick()
	h.tick()
	eq := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: rows %v, want %v", what, got, want)
		}
	}
	eq("default sort", procOrder(h), []string{"100", "200"})

	// Arrows scroll the focused comparison, they do not move the selection.
	h.key(tcell.KeyDown)
	if h.d.ui.selected != (RowKey{Pid: 100}) {
		t.Errorf("Down on the comparison moved the selection to %v", h.d.ui.selected)
	}

	h.key(tcell.KeyTab)
	h.key(tcell.KeyDown)
	if h.d.ui.selected != (RowKey{Pid: 200}) {
		t.Fatalf("selected %v after Down", h.d.ui.selected)
	}
	if !strings.Contains(h.regionText(h.d.w.detail), "nginx process 200") {
		t.Errorf("detail does not follow the selection:\n%s", h.regionText(h.d.w.detail))
	}
	if row, _ := h.d.w.procs.GetSelection(); row != 2 {
		t.Errorf("table highlights row %d", row)
	}

	h.runes("I")
	eq("inverted", procOrder(h), []string{"200", "100"})
	if h.d.ui.selected != (RowKey{Pid: 200}) {
		t.Errorf("selection should follow the process when sorting, got %v", h.d.ui.selected)
	}
	if row, _ := h.d.w.procs.GetSelection(); row != 1 {
		t.Errorf("after inverting, nginx is on row %d", row)
	}

	h.runes("s")
	if _, _, ok := h.find("sort FDS/CALL"); !ok {
		t.Errorf("s should sort by FDS/CALL:\n%s", h.regionText(h.d.w.procs))
	}
	h.runes("SSSS")
	if _, _, ok := h.find("sort PID"); !ok {
		t.Fatalf("S×4 from FDS/CALL should sort by PID:\n%s", h.regionText(h.d.w.procs))
	}
	if _, _, ok := h.find("PID▲"); !ok {
		t.Errorf("PID sorts ascending")
	}
	eq("by pid", procOrder(h), []string{"100", "200"})
	h.runes("S")
	if _, _, ok := h.find("sort CALLS"); !ok {
		t.Errorf("S from the first column wraps to the last:\n%s", h.regionText(h.d.w.procs))
	}
	h.runes("s")

	// Expand nginx's threads and select one.
	h.key(tcell.KeyEnter)
	eq("expanded", procOrder(h), []string{"100", "200", "200", "201"})
	if _, _, ok := h.find("└ nginx-worker"); !ok {
		t.Errorf("thread rows:\n%s", h.regionText(h.d.w.procs))
	}
	h.runes("j")
	h.runes("j")
	if h.d.ui.selected != (RowKey{Pid: 200, Tid: 201}) {
		t.Fatalf("selected %v", h.d.ui.selected)
	}
	if !strings.Contains(h.regionText(h.d.w.detail), "nginx-worker thread 201 of 200") {
		t.Errorf("thread detail:\n%s", h.regionText(h.d.w.detail))
	}
	h.key(tcell.KeyHome)
	if h.d.ui.selected != (RowKey{Pid: 100}) {
		t.Errorf("Home selected %v", h.d.ui.selected)
	}
	h.runes("G")
	if h.d.ui.selected != (RowKey{Pid: 200, Tid: 201}) {
		t.Errorf("G selected %v", h.d.ui.selected)
	}

	// Filter.
	h.runes("/work")
	if !strings.Contains(h.lines()[39], "filter: /work_") {
		t.Errorf("footer while typing: %q", h.lines()[39])
	}
	h.key(tcell.KeyEnter)
	eq("filtered on a thread name", procOrder(h), []string{"200", "201"})
	if _, _, ok := h.find("filter /work"); !ok {
		t.Errorf("filter not in the title:\n%s", h.regionText(h.d.w.procs))
	}
	h.runes("/")
	h.key(tcell.KeyBackspace2)
	h.key(tcell.KeyBackspace2)
	h.key(tcell.KeyBackspace2)
	h.key(tcell.KeyBackspace2)
	h.runes("10")
	h.key(tcell.KeyEnter)
	eq("filtered on a pid", procOrder(h), []string{"100"})
	h.key(tcell.KeyEscape)
	eq("filter cleared", procOrder(h), []string{"100", "200", "200", "201"})
	h.runes("e")
	h.runes("e")
	eq("expand all then collapse all", procOrder(h), []string{"100", "200"})
}

func TestPause(t *testing.T) {
	src := &fakeSource{snaps: fixture(true)}
	h := newHarness(t, 120, 40, src, nil, nil)
	h.tick()
	h.runes("p")
	if _, _, ok := h.find("PAUSED"); !ok {
		t.Fatalf("no PAUSED:\n%s", h.dump())
	}
	n := src.count()
	h.tick()
	h.tick()
	if src.count() != n {
		t.Errorf("paused dashboard pulled %d snapshots", src.count()-n)
	}
	h.runes("p")
	if src.count() != n+1 {
		t.Errorf("resuming should pull a snapshot at once (pulled %d)", src.count()-n)
	}
	if _, _, ok := h.find("PAUSED"); ok {
		t.Errorf("PAUSED still shown")
	}
	if !h.d.st.HasInterval() {
		t.Error("no interval after resuming")
	}
}

// TestStep: while paused, n pulls exactly one sample; unpaused it does not.
func TestStep(t *testing.T) {
	src := &fakeSource{snaps: fixture(true)}
	h := newHarness(t, 120, 40, src, nil, nil)
	h.tick()
	n := src.count()
	h.runes("n")
	if src.count() != n {
		t.Errorf("n while running pulled %d snapshots", src.count()-n)
	}
	h.runes("p")
	h.runes("n")
	if src.count() != n+1 {
		t.Errorf("n while paused pulled %d snapshots, want 1", src.count()-n)
	}
	if _, _, ok := h.find("PAUSED"); !ok {
		t.Errorf("stepping left the pause:\n%s", h.dump())
	}
}

func TestDemoKeysSetParams(t *testing.T) {
	snaps, models := demoFixture()
	demo := &fakeDemo{params: LoadParams{Fds: 64, Active: 8}, models: models}
	h := newHarness(t, 120, 40, &fakeSource{snaps: snaps}, nil, demo)
	h.tick()
	h.tick()
	steps := []struct {
		key  string
		want LoadParams
	}{
		{"+", LoadParams{Fds: 128, Active: 8}},
		{"+", LoadParams{Fds: 256, Active: 8}},
		{"-", LoadParams{Fds: 128, Active: 8}},
		{"A", LoadParams{Fds: 128, Active: 16}},
		{"a", LoadParams{Fds: 128, Active: 8}},
		// From "max", r halves the busiest model's measured rate (900 msgs/s).
		{"r", LoadParams{Fds: 128, Active: 8, Rate: 450}},
		{"r", LoadParams{Fds: 128, Active: 8, Rate: 225}},
		{"R", LoadParams{Fds: 128, Active: 8, Rate: 450}},
	}
	for i, s := range steps {
		h.runes(s.key)
		calls := demo.calls()
		if len(calls) != i+1 || calls[i] != s.want {
			t.Fatalf("after %q: SetParams calls %+v, want last %+v", s.key, calls, s.want)
		}
	}
	if _, _, ok := h.find("demo N=128 fds, 8 active, rate 450/s"); !ok {
		t.Errorf("comparison title does not show the parameters:\n%s", h.dump())
	}
	if !strings.Contains(h.lines()[39], "demo: N=128 fds, 8 active, rate 450/s") {
		t.Errorf("footer: %q", h.lines()[39])
	}

	// A refused change is reported and the parameters in force are shown.
	demo.mu.Lock()
	demo.err = errors.New("too many fds")
	demo.mu.Unlock()
	h.runes("+")
	if !strings.Contains(h.lines()[39], "too many fds") {
		t.Errorf("footer after a refused change: %q", h.lines()[39])
	}
	x, y := h.mustFind("too many fds")
	if _, _, st, _ := h.screen.GetContent(x, y); func() bool { fg, _, _ := st.Decompose(); return fg != tcell.ColorRed }() {
		t.Error("error not in red")
	}
	if h.d.ui.params != (LoadParams{Fds: 128, Active: 8, Rate: 450}) {
		t.Errorf("params after a refused change: %+v", h.d.ui.params)
	}

	// Without a demo the keys do nothing and are not in the help.
	h2 := newHarness(t, 120, 40, &fakeSource{snaps: fixture(true)}, nil, nil)
	h2.tick()
	h2.runes("+")
	for _, a := range h2.d.keys {
		if strings.HasPrefix(a.desc, "demo") {
			t.Errorf("demo key %q without a demo", a.desc)
		}
	}
}

func TestHelpListsEveryKey(t *testing.T) {
	snaps, models := demoFixture()
	for _, c := range []struct {
		name string
		w, h int
		demo bool
	}{
		{"120x40", 120, 40, false}, {"120x40 demo", 120, 40, true},
		{"80x24", 80, 24, false}, {"80x24 demo", 80, 24, true},
	} {
		var demo Demo
		if c.demo {
			demo = &fakeDemo{params: LoadParams{Fds: 64, Active: 8}, models: models}
		}
		h := newHarness(t, c.w, c.h, &fakeSource{snaps: snaps}, nil, demo)
		h.tick()
		h.runes("?")
		help, _, _ := h.region(h.d.w.help)
		text := strings.Join(help, "\n")
		if !strings.Contains(text, "iotrace keys") {
			t.Fatalf("%s: no help overlay:\n%s", c.name, h.dump())
		}
		for _, a := range h.d.keys {
			var names []string
			for _, k := range a.keys {
				names = append(names, k.String())
			}
			entry := strings.Join(names, ", ")
			// Each entry shows its keys followed by (the start of) its
			// description.
			found := false
			for _, l := range help {
				if i := runeIndex(l, " "+entry+" "); i >= 0 && strings.Contains(l, truncate(a.desc, 12)[:len(truncate(a.desc, 12))-len("…")]) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: help lacks %q (%s):\n%s", c.name, entry, a.desc, text)
			}
		}
		if c.demo != strings.Contains(text, "demo: double N") {
			t.Errorf("%s: demo keys shown = %v", c.name, !c.demo)
		}
		// Any other key closes the help without acting.
		sort := h.d.ui.sortCol
		h.runes("s")
		if h.d.ui.help || h.d.ui.sortCol != sort {
			t.Errorf("%s: a key in the help should only close it (help %v, sort %d→%d)", c.name, h.d.ui.help, sort, h.d.ui.sortCol)
		}
		if _, _, ok := h.find("iotrace keys"); ok {
			t.Errorf("%s: help still on screen", c.name)
		}
		h.runes("h")
		h.runes("h")
		if h.d.ui.help {
			t.Errorf("%s: h should toggle the help", c.name)
		}
	}
}

func TestHelpTextFromTable(t *testing.T) {
	table := keyTable(true)
	text, _, lines := helpText(table, nil, 1, 60)
	if n := strings.Count(text, "\n") + 1; n != len(table) || lines != len(table) {
		t.Errorf("one column: %d lines (said %d) for %d keys", n, lines, len(table))
	}
	for _, a := range table {
		for _, k := range a.keys {
			if !strings.Contains(text, tview.Escape(k.String())) {
				t.Errorf("key %s missing", k)
			}
		}
	}
	_, _, lines = helpText(table, nil, 2, 40)
	if lines != (len(table)+1)/2 {
		t.Errorf("two columns: %d lines for %d keys", lines, len(table))
	}
	// Every key is bound once.
	seen := map[keyBinding]string{}
	for _, a := range table {
		for _, k := range a.keys {
			if prev, ok := seen[k]; ok {
				t.Errorf("key %s bound to %q and %q", k, prev, a.id)
			}
			seen[k] = a.id
		}
	}
}

func TestQuitKey(t *testing.T) {
	for _, key := range []*tcell.EventKey{
		tcell.NewEventKey(tcell.KeyRune, 'q', tcell.ModNone),
		tcell.NewEventKey(tcell.KeyCtrlC, 0, tcell.ModCtrl),
	} {
		h := newHarness(t, 80, 24, &fakeSource{snaps: fixture(true)}, nil, nil)
		cancelled := false
		h.d.quit = func() { cancelled = true }
		h.tick()
		h.app.Key(key)
		if !h.app.isStopped() || !cancelled {
			t.Errorf("%v: stopped %v, loop cancelled %v", key.Name(), h.app.isStopped(), cancelled)
		}
	}
	// q quits from the help overlay too.
	h := newHarness(t, 80, 24, &fakeSource{snaps: fixture(true)}, nil, nil)
	h.runes("?q")
	if !h.app.isStopped() {
		t.Error("q in the help did not quit")
	}
}

func TestSourceErrorShown(t *testing.T) {
	src := &fakeSource{snaps: fixture(true)}
	h := newHarness(t, 80, 24, src, nil, nil)
	h.tick()
	src.mu.Lock()
	src.err = errors.New("collector gone")
	src.mu.Unlock()
	h.tick()
	if !strings.Contains(h.lines()[23], "snapshot: collector gone") {
		t.Errorf("footer: %q", h.lines()[23])
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	h.tick()
	if strings.Contains(h.dump(), "collector gone") {
		t.Error("error still shown after a good snapshot")
	}
}

func TestRenderBeforeData(t *testing.T) {
	h := newHarness(t, 80, 24, &fakeSource{snaps: fixture(true)}, nil, nil)
	if _, _, ok := h.find("waiting for the first snapshot"); !ok {
		// New renders once; the fake app draws on the next update.
		h.app.QueueUpdateDraw(func() {})
		if _, _, ok := h.find("waiting for the first snapshot"); !ok {
			t.Errorf("empty dashboard:\n%s", h.dump())
		}
	}
	h.tick()
	if _, _, ok := h.find("rates appear after the second snapshot"); !ok {
		t.Errorf("after one snapshot:\n%s", h.dump())
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRefreshLoopWithFakeApp(t *testing.T) {
	src := &fakeSource{snaps: fixture(true)}
	s := tcell.NewSimulationScreen("UTF-8")
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	s.SetSize(120, 40)
	app := newFakeApp()
	d := New(app, s, src, Info{Interval: 5 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "three snapshots", func() bool { return src.count() >= 3 })
	// Keys from the "UI goroutine" while the loop runs: their redraw goes
	// through the loop.
	app.Key(tcell.NewEventKey(tcell.KeyTab, 0, tcell.ModNone))
	waitFor(t, "focus change drawn", func() bool {
		app.mu.Lock()
		defer app.mu.Unlock()
		return app.focus == d.w.procs
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !app.isStopped() {
		t.Error("cancel did not stop the app")
	}

	// q ends Run too.
	app2 := newFakeApp()
	src2 := &fakeSource{snaps: fixture(true)}
	d2 := New(app2, s, src2, Info{Interval: 5 * time.Millisecond}, nil, nil)
	done2 := make(chan error, 1)
	go func() { done2 <- d2.Run(context.Background()) }()
	waitFor(t, "a snapshot", func() bool { return src2.count() >= 1 })
	app2.Key(tcell.NewEventKey(tcell.KeyRune, 'q', tcell.ModNone))
	select {
	case <-done2:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after q")
	}
}

func TestRunWithTview(t *testing.T) {
	run := func(t *testing.T, ctx context.Context, act func(d *Dashboard, s tcell.SimulationScreen, src *fakeSource)) {
		t.Helper()
		s := tcell.NewSimulationScreen("UTF-8")
		src := &fakeSource{snaps: fixture(true)}
		d := New(NewApp(), s, src, Info{ProbeMode: "fentry", Interval: 5 * time.Millisecond}, nil, nil)
		s.SetSize(100, 30)
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		act(d, s, src)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
	}
	// screenHas reads the screen on the event loop: GetContents returns
	// tcell's own buffer, which tview writes while drawing.
	screenHas := func(d *Dashboard, s tcell.SimulationScreen, want string) bool {
		found := false
		d.app.QueueUpdateDraw(func() { found = contentsHave(s, want) })
		return found
	}
	t.Run("q", func(t *testing.T) {
		run(t, context.Background(), func(d *Dashboard, s tcell.SimulationScreen, src *fakeSource) {
			waitFor(t, "figures on screen", func() bool { return src.count() >= 2 && screenHas(d, s, "fds watched/call") })
			s.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
		})
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		run(t, ctx, func(_ *Dashboard, s tcell.SimulationScreen, src *fakeSource) {
			waitFor(t, "snapshots", func() bool { return src.count() >= 2 })
			cancel()
		})
	})
	t.Run("cancelled before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		run(t, ctx, func(*Dashboard, tcell.SimulationScreen, *fakeSource) {})
	})
}

func contentsHave(s tcell.SimulationScreen, want string) bool {
	cells, w, h := s.GetContents()
	for y := 0; y < h; y++ {
		var b strings.Builder
		for x := 0; x < w; x++ {
			if r := cells[y*w+x].Runes; len(r) > 0 {
				b.WriteRune(r[0])
			}
		}
		if strings.Contains(b.String(), want) {
			return true
		}
	}
	return false
}

func TestKeysRedrawThroughTheLoop(t *testing.T) {
	h := newHarness(t, 120, 40, &fakeSource{snaps: fixture(true)}, nil, nil)
	h.tick()
	h.tick()
	h.key(tcell.KeyTab)
	before := h.dump()
	// The handler changes the state only...
	h.app.Key(tcell.NewEventKey(tcell.KeyRune, 'I', tcell.ModNone))
	if !h.d.ui.reverse {
		t.Fatal("I did not invert the sort")
	}
	if h.dump() != before {
		t.Fatal("a key handler changed the widgets without going through the refresh loop")
	}
	// ...and the refresh loop redraws.
	h.drain()
	if got := procOrder(h); strings.Join(got, " ") != "200 100" {
		t.Errorf("after the loop's redraw: %v", got)
	}

	// Page keys move by the visible rows.
	h.runes("e")
	h.key(tcell.KeyHome)
	h.key(tcell.KeyPgDn)
	if h.d.ui.selected != (RowKey{Pid: 100}) {
		t.Errorf("PgDn selected %v, want the last row", h.d.ui.selected)
	}
	h.key(tcell.KeyPgUp)
	if h.d.ui.selected != (RowKey{Pid: 200}) {
		t.Errorf("PgUp selected %v, want the first row", h.d.ui.selected)
	}
}
