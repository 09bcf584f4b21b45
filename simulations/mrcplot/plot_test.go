package mrcplot

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveSVGAndPNG(t *testing.T) {
	dir := t.TempDir()
	series := []Series{
		{Name: "lru", Points: []Point{{1000, 0.95}, {5000, 0.89}, {50000, 0.65}}},
		{Name: "min", Points: []Point{{1000, 0.82}, {5000, 0.66}, {50000, 0.63}}},
	}
	svg := filepath.Join(dir, "mrc.svg")
	if err := Save(svg, "test", series); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("lru")) || !bytes.Contains(b, []byte("MIN (oracle)")) {
		t.Fatalf("svg lacks the curves' legend")
	}
	png := filepath.Join(dir, "mrc.png")
	if err := Save(png, "test", series); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("not a PNG")
	}
	if err := Save(filepath.Join(dir, "x.pdf"), "t", series); !errors.Is(err, ErrPlot) {
		t.Fatalf("pdf: %v", err)
	}
	if err := Save(filepath.Join(dir, "x.svg"), "t", nil); !errors.Is(err, ErrPlot) {
		t.Fatalf("empty: %v", err)
	}
}

// TestPaletteStaysDistinct: every pair of the 12 policy colours is far
// apart in CIELAB (ΔE76 above 25, where 2.3 is "just noticeable"), and none
// is the black or grey of the reference lines.
func TestPaletteStaysDistinct(t *testing.T) {
	if len(Palette) < 12 {
		t.Fatalf("palette of %d colours, want 12", len(Palette))
	}
	all := append(append([]color.RGBA{}, Palette...), minColor, infColor)
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if d := deltaE(all[i], all[j]); d < 25 {
				t.Errorf("colours %d %v and %d %v: ΔE %.1f", i, all[i], j, all[j], d)
			}
		}
	}
}

// TestReferenceLinesMarked: MIN and the infinite cache are drawn dashed in
// their own colours and named as references in the legend, and twelve
// policies get twelve different colours.
func TestReferenceLinesMarked(t *testing.T) {
	var series []Series
	for i := 0; i < 12; i++ {
		series = append(series, Series{Name: fmt.Sprintf("p%d", i), Points: []Point{{1000, 0.9 - 0.01*float64(i)}, {5000, 0.5}}})
	}
	series = append(series,
		Series{Name: "min", Points: []Point{{1000, 0.4}, {5000, 0.3}}},
		Series{Name: "infinite", Points: []Point{{1000, 0.2}, {5000, 0.2}}})
	path := filepath.Join(t.TempDir(), "m.svg")
	if err := Save(path, "t", series); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"MIN (oracle)", "infinite cache"} {
		if !strings.Contains(s, want) {
			t.Errorf("legend lacks %q", want)
		}
	}
	if !strings.Contains(s, "stroke-dasharray") {
		t.Errorf("no dashed line in the plot")
	}
	for i, c := range Palette[:12] {
		hex := fmt.Sprintf("stroke:#%02X%02X%02X", c.R, c.G, c.B)
		if !strings.Contains(s, hex) {
			t.Errorf("colour %d (%s) not drawn", i, hex)
		}
	}
}

// deltaE is the CIE76 distance of two sRGB colours.
func deltaE(a, b color.RGBA) float64 {
	la, aa, ba := lab(a)
	lb, ab, bb := lab(b)
	return math.Sqrt((la-lb)*(la-lb) + (aa-ab)*(aa-ab) + (ba-bb)*(ba-bb))
}

func lab(c color.RGBA) (float64, float64, float64) {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	r, g, b := lin(c.R), lin(c.G), lin(c.B)
	x := (0.4124*r + 0.3576*g + 0.1805*b) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*b
	z := (0.0193*r + 0.1192*g + 0.9505*b) / 1.08883
	f := func(t float64) float64 {
		if t > 0.008856 {
			return math.Cbrt(t)
		}
		return 7.787*t + 16.0/116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}
