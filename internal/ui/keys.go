package ui

import (
	"fmt"
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/iotrace/iotrace/internal/format"
)

// keyBinding is one key: a special key, or tcell.KeyRune with a character.
type keyBinding struct {
	Key  tcell.Key
	Rune rune
}

func runeKey(r rune) keyBinding { return keyBinding{Key: tcell.KeyRune, Rune: r} }
func specialKey(k tcell.Key) keyBinding {
	return keyBinding{Key: k}
}

// String is the key's name as the help shows it.
func (k keyBinding) String() string {
	if k.Key == tcell.KeyRune {
		if k.Rune == ' ' {
			return "Space"
		}
		return string(k.Rune)
	}
	switch k.Key {
	case tcell.KeyUp:
		return "↑"
	case tcell.KeyDown:
		return "↓"
	case tcell.KeyBacktab:
		return "Shift-Tab"
	case tcell.KeyEscape:
		return "Esc"
	}
	if n, ok := tcell.KeyNames[k.Key]; ok {
		return n
	}
	return fmt.Sprintf("key(%d)", k.Key)
}

func (k keyBinding) matches(ev *tcell.EventKey) bool {
	if k.Key == tcell.KeyRune {
		return ev.Key() == tcell.KeyRune && ev.Rune() == k.Rune && ev.Modifiers()&(tcell.ModCtrl|tcell.ModAlt) == 0
	}
	return ev.Key() == k.Key
}

// keyAction is one entry of the key table: its keys, what it does, and the
// handler. A handler runs on the UI goroutine; it changes the dashboard's
// state and asks for a redraw, never touching widgets itself. It returns
// false to pass the key on to the focused view (e.g. to scroll it).
// inHelp marks the actions that stay active while the help overlay is
// shown (quit, help, and the moves, which scroll the help); any other key
// only closes it.
type keyAction struct {
	id      string
	keys    []keyBinding
	desc    string
	handler func(d *Dashboard) bool
	inHelp  bool
}

// Action ids the dashboard refers to.
const (
	actQuit = "quit"
	actHelp = "help"
)

// keyTable returns the dashboard's key table. It drives both dispatch and
// the help overlay; the demo entries are present only with a Demo.
func keyTable(withDemo bool) []keyAction {
	t := []keyAction{
		{actQuit, []keyBinding{runeKey('q'), specialKey(tcell.KeyCtrlC)}, "quit", (*Dashboard).actQuit, true},
		{actHelp, []keyBinding{runeKey('?'), runeKey('h')}, "show/hide this help", (*Dashboard).actHelp, true},
		{"pause", []keyBinding{runeKey('p')}, "pause/resume sampling", (*Dashboard).actPause, false},
		{"step", []keyBinding{runeKey('n')}, "one step while paused", (*Dashboard).actStep, false},
		{"next-view", []keyBinding{specialKey(tcell.KeyTab)}, "focus next view", func(d *Dashboard) bool { return d.actFocus(1) }, false},
		{"prev-view", []keyBinding{specialKey(tcell.KeyBacktab)}, "focus previous view", func(d *Dashboard) bool { return d.actFocus(-1) }, false},
		{"up", []keyBinding{specialKey(tcell.KeyUp), runeKey('k')}, "select previous row", func(d *Dashboard) bool { return d.actMove(-1) }, true},
		{"down", []keyBinding{specialKey(tcell.KeyDown), runeKey('j')}, "select next row", func(d *Dashboard) bool { return d.actMove(1) }, true},
		{"page-up", []keyBinding{specialKey(tcell.KeyPgUp)}, "page up", func(d *Dashboard) bool { return d.actMove(-d.pageSize()) }, true},
		{"page-down", []keyBinding{specialKey(tcell.KeyPgDn)}, "page down", func(d *Dashboard) bool { return d.actMove(d.pageSize()) }, true},
		{"home", []keyBinding{specialKey(tcell.KeyHome), runeKey('g')}, "first row", func(d *Dashboard) bool { return d.actMove(-1 << 30) }, true},
		{"end", []keyBinding{specialKey(tcell.KeyEnd), runeKey('G')}, "last row", func(d *Dashboard) bool { return d.actMove(1 << 30) }, true},
		{"expand", []keyBinding{specialKey(tcell.KeyEnter), runeKey(' ')}, "show/hide threads", (*Dashboard).actExpand, false},
		{"expand-all", []keyBinding{runeKey('e')}, "threads of all procs", (*Dashboard).actExpandAll, false},
		{"sort-next", []keyBinding{runeKey('s')}, "sort by next column", func(d *Dashboard) bool { return d.actSort(1) }, false},
		{"sort-prev", []keyBinding{runeKey('S')}, "sort by previous col", func(d *Dashboard) bool { return d.actSort(-1) }, false},
		{"sort-invert", []keyBinding{runeKey('I')}, "invert sort order", (*Dashboard).actInvert, false},
		{"filter", []keyBinding{runeKey('/')}, "filter by comm or pid", (*Dashboard).actFilter, false},
		{"clear", []keyBinding{specialKey(tcell.KeyEscape)}, "clear filter/message", (*Dashboard).actClear, false},
	}
	if withDemo {
		t = append(t,
			keyAction{"fds-up", []keyBinding{runeKey('+')}, "demo: double N (fds)", func(d *Dashboard) bool { return d.actParams(doubleFds) }, false},
			keyAction{"fds-down", []keyBinding{runeKey('-')}, "demo: halve N (fds)", func(d *Dashboard) bool { return d.actParams(halveFds) }, false},
			keyAction{"active-down", []keyBinding{runeKey('a')}, "demo: halve active", func(d *Dashboard) bool { return d.actParams(fewerActive) }, false},
			keyAction{"active-up", []keyBinding{runeKey('A')}, "demo: double active", func(d *Dashboard) bool { return d.actParams(moreActive) }, false},
			keyAction{"rate-down", []keyBinding{runeKey('r')}, "demo: halve msg rate", func(d *Dashboard) bool {
				m := d.measuredRate()
				return d.actParams(func(p LoadParams) LoadParams { return halveRate(p, m) })
			}, false},
			keyAction{"rate-up", []keyBinding{runeKey('R')}, "demo: double msg rate", func(d *Dashboard) bool { return d.actParams(doubleRate) }, false},
			keyAction{"show-replaced", []keyBinding{runeKey('x')}, "demo: list replaced", (*Dashboard).actShowReplaced, false},
		)
	}
	return t
}

// lookup returns the action bound to ev, or nil.
func lookup(table []keyAction, ev *tcell.EventKey) *keyAction {
	for i := range table {
		for _, k := range table[i].keys {
			if k.matches(ev) {
				return &table[i]
			}
		}
	}
	return nil
}

// helpNotes follow the key list in the help overlay; demoHelpNotes are
// added with a Demo. The figure notes explain the figures that surprise:
// their definitions are in the figure table (internal/model/figures.go)
// and docs/metrics.md.
var (
	helpNotes = []string{
		"n/a: not measurable in this probe mode; -: not applicable or no calls.",
		"~: an estimate, computed by a model, not counted by a probe: in this version every fd_polls (so efficiency), " +
			"and, in tracepoint and rawtp modes, epoll's fds watched (the interest list tracked from epoll_ctl and close, " +
			"resynchronised from /proc every interval). Everything else is observed or computed " +
			"from the call's arguments; the trace's meta.provenance says which, per figure (docs/metrics.md, Provenance).",
		"efficiency = ready ÷ fd_polls: the share of readiness checks that found an fd ready. " +
			"select and poll check every fd on each pass and make a second pass after sleeping, " +
			"so a call on 1 fd that waits scores 50% (2 checks, 1 ready). " +
			"fd_polls is estimated in this version, not observed: select and poll count fds × (1 + sleeps in the call) (docs/metrics.md).",
		"blocked Σthreads: time off CPU inside calls ÷ the interval, summed over the threads (2 threads always waiting = 200%).",
		"↑↓ PgUp PgDn g G scroll this help; any other key closes it.",
	}
	demoHelpNotes = []string{
		"Demo: doubling the rate past 1M msgs/s means max (as fast as possible).",
		"Demo: changing N, active or rate restarts the workloads as new processes; the replaced ones are hidden (x shows them).",
	}
)

// Help layout limits.
const (
	maxHelpCol1 = 64 // width of the key list in one column
	maxHelpCol2 = 48 // width of each of two columns
	minHelpCol2 = 36 // narrower than this, one column
	maxNoteW    = 96 // notes wrap at most this wide
	minNoteW    = 24 // and at least this wide
)

// helpText renders the key table for the help overlay in cols columns of
// colWidth cells each (descriptions are cut to fit), followed by the notes
// wrapped to the width of the columns. It returns the text and its size in
// cells. Any sizes, however small, give a text (at worst keys without
// descriptions); the overlay scrolls.
func helpText(table []keyAction, notes []string, cols, colWidth int) (string, int, int) {
	if cols < 1 {
		cols = 1
	}
	if colWidth < 1 {
		colWidth = 1
	}
	keyW := 0
	names := make([]string, len(table))
	for i, a := range table {
		ks := make([]string, len(a.keys))
		for j, k := range a.keys {
			ks[j] = k.String()
		}
		names[i] = strings.Join(ks, ", ")
		if n := len([]rune(names[i])); n > keyW {
			keyW = n
		}
	}
	rows := (len(table) + cols - 1) / cols
	// A cell is " " + key name padded to keyW + "  " + description.
	descW := colWidth - keyW - 3
	var b strings.Builder
	width := 0
	for r := 0; r < rows; r++ {
		lineW := 0
		for c := 0; c < cols; c++ {
			i := c*rows + r
			if i >= len(table) {
				break
			}
			desc := truncate(table[i].desc, descW)
			pad := strings.Repeat(" ", keyW-len([]rune(names[i])))
			fmt.Fprintf(&b, " [yellow]%s[-]%s  %s", escape(names[i]), pad, escape(desc))
			n := 1 + keyW + 2 + len([]rune(desc))
			lineW += n
			if c < cols-1 && i+rows < len(table) {
				gap := colWidth - n
				if gap < 2 {
					gap = 2
				}
				b.WriteString(strings.Repeat(" ", gap))
				lineW += gap
			}
		}
		if lineW > width {
			width = lineW
		}
		b.WriteByte('\n')
	}
	lines := rows
	noteW := cols*colWidth - 1
	if noteW > maxNoteW {
		noteW = maxNoteW
	}
	if noteW < minNoteW {
		noteW = minNoteW // the overlay is cut there anyway
	}
	if len(notes) > 0 {
		b.WriteByte('\n') // a blank line between the keys and the notes
		lines++
	}
	for _, n := range notes {
		// A note's continuation lines are indented under its first.
		for j, l := range tview.WordWrap(n, noteW-2) {
			l = strings.TrimRight(l, " ")
			if j > 0 {
				l = "  " + l
			}
			fmt.Fprintf(&b, " [gray]%s[-]\n", escape(l))
			lines++
			if w := len([]rune(l)) + 1; w > width {
				width = w
			}
		}
	}
	return strings.TrimRight(b.String(), "\n"), width + 1, lines
}

// Demo parameter steps. They are pure so that they can be tested.

const (
	maxFds  = 1 << 20
	maxRate = 1e6 // msgs/s; doubling past it means "as fast as possible"
	// defaultRate is where halving "max" starts when nothing was measured.
	defaultRate = 1000
)

func doubleFds(p LoadParams) LoadParams {
	if p.Fds < 1 {
		p.Fds = 1
	} else if p.Fds*2 <= maxFds {
		p.Fds *= 2
	}
	return p
}

func halveFds(p LoadParams) LoadParams {
	p.Fds /= 2
	if p.Fds < 1 {
		p.Fds = 1
	}
	if p.Active > p.Fds {
		p.Active = p.Fds
	}
	return p
}

func moreActive(p LoadParams) LoadParams {
	if p.Active < 1 {
		p.Active = 1
	} else {
		p.Active *= 2
	}
	if p.Fds > 0 && p.Active > p.Fds {
		p.Active = p.Fds
	}
	return p
}

func fewerActive(p LoadParams) LoadParams {
	p.Active /= 2
	return p
}

// halveRate halves the rate; from "max" (0) it starts at half the measured
// per-model rate, or defaultRate/2 when nothing was measured.
func halveRate(p LoadParams, measured float64) LoadParams {
	if p.Rate <= 0 {
		p.Rate = measured
		if p.Rate < 1 {
			p.Rate = defaultRate
		}
	}
	p.Rate /= 2
	if p.Rate < 1 {
		p.Rate = 1
	}
	return p
}

func doubleRate(p LoadParams) LoadParams {
	if p.Rate <= 0 {
		return p
	}
	p.Rate *= 2
	if p.Rate >= maxRate {
		p.Rate = 0
	}
	return p
}

// ParamsText describes demo parameters: "N=1024 fds, 16 active, rate max".
func ParamsText(p LoadParams) string {
	return fmt.Sprintf("N=%d fds, %d active, rate %s", p.Fds, p.Active, format.Rate(p.Rate))
}
