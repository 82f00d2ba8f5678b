package ui

import (
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"
)

// gridSizes are every combination of small widths and heights from 1×1
// up, where the layouts run out of room.
func gridSizes(short bool) [][2]int {
	ws := []int{1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 30, 40}
	hs := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16}
	if short {
		ws, hs = []int{1, 2, 3, 5, 12, 30}, []int{1, 2, 3, 4, 8}
	}
	var out [][2]int
	for _, w := range ws {
		for _, h := range hs {
			out = append(out, [2]int{w, h})
		}
	}
	return out
}

// keySizes are the sizes every key is pressed at: the smallest, the
// issue's 30×8, the edges of the wide layout (100 columns, 8 rows of
// process table under the comparison), the sizes people use and extremes
// up to 200×60.
func keySizes(short bool) [][2]int {
	if short {
		return [][2]int{{1, 1}, {30, 8}, {100, 17}}
	}
	return [][2]int{{1, 1}, {2, 2}, {1, 8}, {30, 1}, {5, 3}, {12, 6}, {30, 8}, {40, 12}, {60, 20}, {80, 24},
		{99, 30}, {100, 9}, {100, 17}, {100, 18}, {101, 25}, {120, 40}, {200, 3}, {3, 60}, {200, 60}}
}

// sweepCase is one way of driving a dashboard on a screen of a given size.
type sweepCase struct {
	name    string
	demo    bool
	samples int // snapshots taken before the keys: 0 (no data), 1, 2
}

var sweepCases = []sweepCase{
	{"no data", false, 0}, {"one snapshot", false, 1}, {"two snapshots", false, 2},
	{"demo no data", true, 0}, {"demo one snapshot", true, 1}, {"demo two snapshots", true, 2},
}

// newSweepHarness builds the dashboard of case c on a w×h screen.
func newSweepHarness(t *testing.T, c sweepCase, w, h int) *harness {
	t.Helper()
	var demo Demo
	snaps := fixture(true)
	if c.demo {
		var models [][]DemoModel
		snaps, models = demoFixture()
		demo = &fakeDemo{params: LoadParams{Fds: 64, Active: 8}, models: models}
	}
	hs := newHarness(t, w, h, &fakeSource{snaps: snaps}, costSeq(10_000_000, 11_200_000), demo)
	for i := 0; i < c.samples; i++ {
		hs.tick()
	}
	return hs
}

// pressAll presses every key of the dashboard's key table (each of its
// bindings) with the help closed, then each again with the help open, then
// types a filter. q stops the fake app but the dashboard keeps handling
// keys, which is what the sweep needs.
func pressAll(hs *harness) {
	press := func(k keyBinding) {
		hs.app.Key(tcell.NewEventKey(k.Key, k.Rune, tcell.ModNone))
		hs.drain()
	}
	for _, a := range hs.d.keys {
		for _, k := range a.keys {
			if a.id == actHelp {
				continue
			}
			press(k)
		}
	}
	for _, a := range hs.d.keys {
		for _, k := range a.keys {
			if !hs.d.ui.help {
				press(runeKey('?'))
			}
			press(k)
		}
	}
	press(runeKey('?'))
	hs.runes("/x")
	hs.key(tcell.KeyEnter)
	hs.runes("?")
	hs.tick()
}

// sweep runs drive on a dashboard of every case at every size, and
// reports each distinct panic once, with the first size that showed it and
// where it was raised. Screens of more than bigScreen cells (milliseconds
// a draw) are visited with two snapshots of data only.
func sweep(t *testing.T, sizes [][2]int, drive func(*harness)) {
	const bigScreen = 5000
	for _, c := range sweepCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			for _, sz := range sizes {
				if sz[0]*sz[1] > bigScreen && c.samples != 2 {
					continue
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							where := panicSite(debug.Stack())
							if key := fmt.Sprint(r, where); !seen[key] {
								seen[key] = true
								t.Errorf("%dx%d: panic: %v at %s", sz[0], sz[1], r, where)
							}
						}
					}()
					drive(newSweepHarness(t, c, sz[0], sz[1]))
				}()
			}
		})
	}
}

// TestEverySizeAndKey: no key of the key table, with the help open or
// closed, with or without a demo and data, makes the dashboard panic, at
// sizes from 1×1 to 200×60.
func TestEverySizeAndKey(t *testing.T) {
	sweep(t, keySizes(testing.Short()), pressAll)
}

// TestEverySmallSize: every small size, each view and the help overlay
// (scrolled to both ends) draw without a panic.
func TestEverySmallSize(t *testing.T) {
	sweep(t, gridSizes(testing.Short()), func(hs *harness) {
		hs.runes("?")
		hs.key(tcell.KeyEnd)
		hs.key(tcell.KeyPgUp)
		hs.runes("?")
		for i := 0; i < numViews; i++ {
			hs.key(tcell.KeyTab)
			hs.key(tcell.KeyDown)
		}
		hs.tick()
	})
}

// TestResizeWithHelpOpen shrinks and grows the terminal under an open help
// overlay and a populated dashboard, redrawing after each step as tview
// does on a resize event.
func TestResizeWithHelpOpen(t *testing.T) {
	for _, c := range sweepCases {
		hs := newSweepHarness(t, c, 200, 60)
		hs.runes("?")
		sizes := [][2]int{{200, 60}, {30, 8}, {1, 1}, {2, 1}, {1, 2}, {100, 9}, {99, 40}, {0, 0}, {120, 40}}
		for _, s := range sizes {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s: resize to %dx%d: panic: %v", c.name, s[0], s[1], r)
					}
				}()
				hs.screen.SetSize(s[0], s[1])
				hs.app.QueueUpdateDraw(func() {})
				hs.drain()
				hs.tick()
			}()
		}
	}
}

// FuzzDashboard drives the dashboard with arbitrary sizes and key
// sequences (go test -fuzz FuzzDashboard ./internal/ui).
func FuzzDashboard(f *testing.F) {
	f.Add(uint8(30), uint8(8), []byte("?"), true, uint8(2))
	f.Add(uint8(1), uint8(1), []byte("?\tjjj G e+aA x/"), false, uint8(1))
	f.Add(uint8(200), uint8(60), []byte("?jkjk\t\tss"), true, uint8(0))
	f.Fuzz(func(t *testing.T, w, h uint8, keys []byte, demo bool, samples uint8) {
		if len(keys) > 64 {
			keys = keys[:64]
		}
		c := sweepCase{name: fmt.Sprint(w, "x", h), demo: demo, samples: int(samples % 4)}
		hs := newSweepHarness(t, c, int(w%220), int(h%70))
		for _, b := range keys {
			switch b {
			case '\t':
				hs.key(tcell.KeyTab)
			case '\r', '\n':
				hs.key(tcell.KeyEnter)
			case 0x1b:
				hs.key(tcell.KeyEscape)
			case 0x7f:
				hs.key(tcell.KeyBackspace2)
			case 0x01:
				hs.tick()
			default:
				hs.runes(string(rune(b)))
			}
		}
	})
}

// panicSite is the first frame of a panic's stack in iotrace's own code
// (file:line), or of any code when none is.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	first := ""
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "/") || strings.Contains(l, "/runtime/") || strings.Contains(l, "sizes_test.go") {
			continue
		}
		if first == "" {
			first = lines[i]
		}
		if strings.Contains(l, "/internal/ui/") {
			return strings.Fields(l)[0]
		}
	}
	return strings.TrimSpace(first)
}

// TestHelpTextNarrowColumns is the case: in a 30×8 terminal the
// help was laid out in two columns of 13 cells, narrower than the key
// names, and padding them panicked (strings: negative Repeat count).
func TestHelpTextNarrowColumns(t *testing.T) {
	table := keyTable(true)
	for cols := 1; cols <= 3; cols++ {
		for colW := -1; colW <= 20; colW++ {
			text, w, h := helpText(table, append(helpNotes, demoHelpNotes...), cols, colW)
			if w < 1 || h < len(table)/cols {
				t.Errorf("%d columns of %d: size %dx%d", cols, colW, w, h)
			}
			for _, a := range table {
				if !strings.Contains(text, escape(a.keys[0].String())) {
					t.Errorf("%d columns of %d: key %s missing", cols, colW, a.keys[0])
				}
			}
		}
	}
}

// TestHelpAt30x8 opens the help in the 30×8 terminal: it shows the
// keys in one column with their descriptions and scrolls with the moves.
func TestHelpAt30x8(t *testing.T) {
	hs := newSweepHarness(t, sweepCase{demo: true, samples: 2}, 30, 8)
	hs.runes("?")
	help := hs.regionText(hs.d.w.help)
	if !regexp.MustCompile(`q, Ctrl-C +quit`).MatchString(help) || !strings.Contains(help, "iotrace keys 1-4/") {
		t.Fatalf("help at 30x8:\n%s", hs.dump())
	}
	hs.runes("G")
	if !hs.d.ui.help || hs.d.ui.helpScroll == 0 {
		t.Fatalf("G in the help should scroll it to the end (help %v, scroll %d)", hs.d.ui.help, hs.d.ui.helpScroll)
	}
	if help := hs.regionText(hs.d.w.help); !strings.Contains(help, "x shows them") {
		t.Errorf("end of the help at 30x8:\n%s", hs.dump())
	}
	hs.runes("g")
	if hs.d.ui.helpScroll != 0 {
		t.Errorf("g: scroll %d", hs.d.ui.helpScroll)
	}
}
