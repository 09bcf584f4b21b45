package cxl

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stratacache/stratacache/tiers"
)

// fakeDAX makes a regular file stand in for /dev/daxN.M, with the sysfs
// entries a device-DAX has.
func fakeDAX(t *testing.T, size int64) (sysRoot, dev string) {
	t.Helper()
	dir := shmDir(t)
	sysRoot = filepath.Join(dir, "sys")
	devDir := filepath.Join(sysRoot, "bus/dax/devices/dax7.0")
	if err := os.MkdirAll(devDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(devDir, "size"), []byte(strconv.FormatInt(size, 10)+"\n"), 0o644)
	os.WriteFile(filepath.Join(devDir, "align"), []byte("2097152\n"), 0o644)
	dev = filepath.Join(dir, "dax7.0")
	f, err := os.Create(dev)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	return sysRoot, dev
}

func TestDAXDeviceFillsDeviceAndReopens(t *testing.T) {
	sysRoot, dev := fakeDAX(t, 16<<20)
	c := Config{DAXDevice: dev, sysRoot: sysRoot}
	p, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	g := p.Geometry()
	if g.DataOff%(2<<20) != 0 || g.TotalSize() != 16<<20 {
		t.Fatalf("geometry %+v not 2 MiB aligned or not filling the device", g)
	}
	want := payload(1, 1<<20)
	if err := p.Put(context.Background(), id(1), want, tiers.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p, err = Open(c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := p.Get(make([]byte, len(want)), id(1))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after reopen: %v", err)
	}
	small, smallDev := fakeDAX(t, 1<<20)
	if _, err := Open(Config{DAXDevice: smallDev, sysRoot: small}); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("1 MiB device: %v", err)
	}
	if _, err := Open(Config{DAXDevice: "relative/dax0.0"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("relative path: %v", err)
	}
}
