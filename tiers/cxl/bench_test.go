package cxl

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/tiers"
)

const benchSize = 4 << 20

func benchPool(b *testing.B, trust bool) (*Tier, []artifact.ID, []byte) {
	c := DefaultLocalConfig(filepath.Join(shmDir(b), "pool"))
	c.CapacityBytes = 128 << 20
	c.TrustPutChecksum = trust
	p, err := Open(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	pl := make([]byte, benchSize)
	for i := range pl {
		pl[i] = byte(i)
	}
	ids := make([]artifact.ID, 8)
	for i := range ids {
		ids[i] = id(i)
		if err := p.Put(context.Background(), ids[i], pl, tiers.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return p, ids, pl
}

func BenchmarkGet4MiB(b *testing.B) {
	p, ids, _ := benchPool(b, false)
	dst := make([]byte, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Get(dst, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkView4MiB(b *testing.B) {
	p, ids, _ := benchPool(b, false)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v, err := p.View(ids[i%len(ids)])
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
	}
}

func BenchmarkPut4MiBTrustedChecksum(b *testing.B) {
	p, ids, pl := benchPool(b, true)
	sum := artifact.Checksum(pl)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.Put(context.Background(), ids[i%len(ids)], pl, tiers.PutOptions{Meta: artifact.Meta{Checksum: sum}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut4MiBHashed(b *testing.B) {
	p, ids, pl := benchPool(b, false)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.Put(context.Background(), ids[i%len(ids)], pl, tiers.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
