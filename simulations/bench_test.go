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
