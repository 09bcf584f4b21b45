package disk

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

const benchSize = 4 << 20

func benchTier(b *testing.B) (*Tier, []artifact.ID, []byte) {
	c := DefaultLocalConfig(filepath.Join(b.TempDir(), "tier"))
	c.CapacityBytes = 128 << 20
	d, err := Open(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	p := make([]byte, benchSize)
	for i := range p {
		p[i] = byte(i)
	}
	ids := make([]artifact.ID, 8)
	for i := range ids {
		ids[i] = id(i)
		if err := d.Put(context.Background(), ids[i], p, tiers.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return d, ids, p
}

func BenchmarkGet4MiB(b *testing.B) {
	d, ids, _ := benchTier(b)
	dst := make([]byte, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := d.Get(dst, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPread4MiB(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, benchSize)
	for i := range 8 {
		f.WriteAt(p, int64(i)*benchSize)
	}
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := f.ReadAt(p, int64(i%8)*benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut4MiB(b *testing.B) {
	d, ids, p := benchTier(b)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := d.Put(context.Background(), ids[i%len(ids)], p, tiers.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
