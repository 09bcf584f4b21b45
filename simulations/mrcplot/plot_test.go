package mrcplot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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
	if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("lru")) || !bytes.Contains(b, []byte("min")) {
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
