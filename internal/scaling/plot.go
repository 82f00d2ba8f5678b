package scaling

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/iotrace/iotrace/internal/format"
	"github.com/iotrace/iotrace/internal/workloads"
)

// Panel size in the SVG.
const (
	panelWidth  = 12 * vg.Centimeter
	panelHeight = 10 * vg.Centimeter
)

// Plots builds the charts of r, all against N on log-log axes, one line
// per model: the wall time per call, and, when some cell has kernel
// figures, the readiness checks (fd_polls) per call and the CPU time
// inside the call from the traced runs.
func Plots(r *Report) []*plot.Plot {
	m := r.Machine
	wall := newPlot(fmt.Sprintf("Wall time per call (untraced run)\n%d CPUs, Linux %s, K=%d, %d B messages",
		m.CPUs, m.Kernel, r.Params.Active, r.Params.Size), "ns per call", format.DecadeDuration)
	addSeries(wall, r, func(c *Cell) (float64, bool) { return c.NsPerCall, true })
	plots := []*plot.Plot{wall}

	if hasKernel(r) {
		polls := newPlot("Readiness checks per call (fd_polls, traced run)\nselect/poll: every fd on every pass; epoll: what is ready",
			"fd_polls per call", format.DecadeCount)
		addSeries(polls, r, func(c *Cell) (float64, bool) {
			if c.Kernel == nil || c.Kernel.Calls == 0 {
				return 0, false
			}
			return c.Kernel.FdPollsPerCall, true
		})
		cpu := newPlot("CPU time inside the call (traced run)\nlatency minus time blocked, probes included",
			"ns per call", format.DecadeDuration)
		addSeries(cpu, r, func(c *Cell) (float64, bool) {
			if c.Kernel == nil || c.Kernel.Calls == 0 {
				return 0, false
			}
			return c.Kernel.CPUNsPerCall, true
		})
		plots = append(plots, polls, cpu)
	}
	return plots
}

// WritePlot writes r's charts side by side as one SVG document.
func WritePlot(w io.Writer, r *Report) error {
	plots := Plots(r)
	canvas := vgsvg.New(panelWidth*vg.Length(len(plots)), panelHeight)
	tiles := draw.Tiles{
		Rows: 1, Cols: len(plots),
		PadX: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5,
	}
	dc := draw.New(canvas)
	dc.SetColor(color.White) // the padding between panels too
	dc.Fill(dc.Rectangle.Path())
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	_, err := canvas.WriteTo(w)
	return err
}

func newPlot(title, ylabel string, yl func(float64) string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text = "N connections"
	p.Y.Label.Text = ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = logTicks{format.DecadeCount}
	p.Y.Tick.Marker = logTicks{yl}
	// Top left, in a decade of its own (see addSeries).
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Millimeter * 2
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Add(plotter.NewGrid())
	return p
}

// addSeries adds one line per model with the points value gives (only
// positive ones: the axes are logarithmic), then sets both axes to whole
// decades around the data.
func addSeries(p *plot.Plot, r *Report, value func(*Cell) (float64, bool)) {
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, m := range r.Params.Models {
		var pts plotter.XYs
		for j := range r.Cells {
			c := &r.Cells[j]
			if c.Model != m || !c.OK() {
				continue
			}
			if v, ok := value(c); ok && v > 0 {
				pts = append(pts, plotter.XY{X: float64(c.FDs), Y: v})
			}
		}
		if len(pts) == 0 {
			continue
		}
		for _, pt := range pts {
			xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue // NaN or infinite values: nothing to draw
		}
		style := seriesStyle(i, m)
		line.Color, line.Dashes = style.color, style.dashes
		line.Width = vg.Points(1.5)
		points.Color, points.Shape = style.color, style.shape
		points.Radius = vg.Points(3)
		p.Add(line, points)
		p.Legend.Add(string(m), line, points)
	}
	if math.IsInf(xmin, 1) {
		// No data: an empty chart over one decade, and say so.
		xmin, xmax, ymin, ymax = 1, 10, 1, 10
		p.Title.Text += "\n(no data)"
	}
	p.X.Min, p.X.Max = decades(xmin, xmax)
	p.Y.Min, p.Y.Max = decades(ymin, ymax)
	p.Y.Max *= 10 // room for the legend
}

type style struct {
	color  color.Color
	shape  draw.GlyphDrawer
	dashes []vg.Length
}

// seriesStyle gives each model the same look in every panel: epoll
// variants dashed and the models that do not multiplex dotted, so that
// select and poll stand out (with nine models, colours repeat).
func seriesStyle(i int, m workloads.Model) style {
	s := style{color: plotutil.Color(i), shape: plotutil.Shape(i)}
	switch {
	case m == workloads.Select || m == workloads.Poll:
	case m.Multiplexing():
		s.dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	default:
		s.dashes = []vg.Length{vg.Points(1), vg.Points(2)}
	}
	return s
}

// decades widens [lo, hi] to whole powers of ten (at least one decade).
func decades(lo, hi float64) (float64, float64) {
	a := math.Pow(10, math.Floor(math.Log10(lo)))
	b := math.Pow(10, math.Ceil(math.Log10(hi)))
	if b <= a {
		b = a * 10
	}
	return a, b
}

func hasKernel(r *Report) bool {
	for i := range r.Cells {
		if k := r.Cells[i].Kernel; k != nil && k.Calls > 0 {
			return true
		}
	}
	return false
}

// logTicks are plot.LogTicks (a label per decade, minor ticks between)
// with readable labels.
type logTicks struct{ label func(float64) string }

func (t logTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.LogTicks{Prec: -1}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = t.label(ticks[i].Value)
		}
	}
	return ticks
}
