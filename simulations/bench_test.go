package simulations

import "testing"

func benchPolicy(b *testing.B, policy string, capacity int) {
	tr := loadShared(b, "conversation_trace.jsonl")
	var o *Oracle
	if policy == PolicyMIN {
		o = NewOracle(tr)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var c Cache
		if o != nil {
			c = NewMIN(capacity, o)
		} else {
			var err error
			if c, err = NewCache(policy, capacity, tr); err != nil {
				b.Fatal(err)
			}
		}
		Replay(tr, c, capacity, nil)
	}
	b.ReportMetric(float64(tr.Accesses())*float64(b.N)/b.Elapsed().Seconds()/1e6, "Maccesses/s")
}

func BenchmarkLRU5000(b *testing.B)  { benchPolicy(b, "lru", 5000) }
func BenchmarkLRU50000(b *testing.B) { benchPolicy(b, "lru", 50000) }
func BenchmarkFIFO5000(b *testing.B) { benchPolicy(b, "fifo", 5000) }
func BenchmarkMIN5000(b *testing.B)  { benchPolicy(b, "min", 5000) }
func BenchmarkMIN50000(b *testing.B) { benchPolicy(b, "min", 50000) }

func TestBenchReportsSpeedAndMemory(t *testing.T) {
	tr := loadShared(t, "conversation_trace.jsonl").Slice(0, 2000)
	for _, p := range []string{"lru", PolicyMIN} {
		r, err := Bench(tr, p, 5000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rounds != 1 || r.Accesses != tr.Accesses() || r.CachedBlocks == 0 || r.BytesPerBlock <= 0 {
			t.Fatalf("%s: %+v", p, r)
		}
		t.Logf("%+v", r)
	}
}
