package mrcplot

import (
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ErrPlot reports a plot that cannot be drawn or saved.
var ErrPlot = errors.New("mrcplot: cannot plot")

// Point is one (capacity, miss ratio) sample.
type Point struct {
	Capacity  float64
	MissRatio float64
}

// Series is one policy's curve.
type Series struct {
	Name   string
	Points []Point
}

// Palette holds the colours of the policies' curves, in the order series
// take them: twelve colours (from the Okabe-Ito, Tableau and Kelly sets)
// chosen so that every pair, and each against the reference lines' black
// and grey, is at least 30 apart in CIELAB (ΔE76; 2.3 is just noticeable).
// A thirteenth series reuses the first colour with a dashed line.
var Palette = []color.RGBA{
	{0x00, 0x72, 0xb2, 255}, // blue
	{0xe6, 0x9f, 0x00, 255}, // orange
	{0x2c, 0xa0, 0x2c, 255}, // green
	{0xbe, 0x00, 0x32, 255}, // red
	{0x94, 0x67, 0xbd, 255}, // purple
	{0x65, 0x45, 0x22, 255}, // brown
	{0xe6, 0x8f, 0xac, 255}, // pink
	{0xa1, 0xca, 0xf1, 255}, // light blue
	{0xe2, 0x58, 0x22, 255}, // vermilion
	{0x00, 0x9e, 0x73, 255}, // bluish green
	{0xf9, 0x93, 0x79, 255}, // salmon
	{0x88, 0x22, 0x55, 255}, // wine
}

// The reference lines: MIN (the oracle, the best any policy can do) and
// the infinite cache (the trace's reuse ceiling) are drawn dashed in their
// own colours, outside the palette, and named as references in the legend.
var (
	minColor = color.RGBA{0, 0, 0, 255}
	infColor = color.RGBA{0x88, 0x88, 0x88, 255}
)

// reference returns the legend label, colour and dashes of a reference
// series, or ok=false for a policy.
func reference(name string) (label string, c color.RGBA, dashes []vg.Length, ok bool) {
	switch strings.ToLower(name) {
	case "min", "belady", "opt":
		return "MIN (oracle)", minColor, []vg.Length{vg.Points(6), vg.Points(3)}, true
	case "infinite", "inf":
		return "infinite cache (reuse ceiling)", infColor, []vg.Length{vg.Points(2), vg.Points(3)}, true
	}
	return "", color.RGBA{}, nil, false
}

// Save writes the curves to path; the extension (.svg or .png) picks the
// format.
func Save(path, title string, series []Series) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".svg" && ext != ".png" {
		return fmt.Errorf("%w: %q: want a .svg or .png file", ErrPlot, path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "cache capacity (blocks, log scale)"
	p.Y.Label.Text = "miss ratio"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top = false
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	drawn, policies := 0, 0
	for _, s := range series {
		pts := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			if pt.Capacity > 0 {
				pts = append(pts, plotter.XY{X: pt.Capacity, Y: pt.MissRatio})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrPlot, s.Name, err)
		}
		label, c, dashes, ref := reference(s.Name)
		if !ref {
			label, c = s.Name, Palette[policies%len(Palette)]
			if policies >= len(Palette) {
				dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			policies++
		}
		line.Color = c
		line.Width = vg.Points(1.5)
		line.Dashes = dashes
		points.Color = c
		points.Shape = nil
		p.Add(line, points)
		p.Legend.Add(label, line)
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("%w: no positive capacities to draw", ErrPlot)
	}
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("%w: %w", ErrPlot, err)
	}
	return nil
}
