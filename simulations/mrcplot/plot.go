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

// palette is a colour-blind-safe set (Okabe-Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},
	color.RGBA{213, 94, 0, 255},
	color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255},
	color.RGBA{230, 159, 0, 255},
	color.RGBA{86, 180, 233, 255},
	color.RGBA{0, 0, 0, 255},
	color.RGBA{160, 30, 30, 255},
	color.RGBA{120, 120, 120, 255},
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
	drawn := 0
	for i, s := range series {
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
		c := palette[i%len(palette)]
		line.Color = c
		line.Width = vg.Points(1.5)
		points.Color = c
		points.Shape = nil
		if len(pts) > 1 {
			line.Dashes = nil
		}
		p.Add(line, points)
		p.Legend.Add(s.Name, line)
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
