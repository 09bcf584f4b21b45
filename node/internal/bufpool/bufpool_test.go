package bufpool

import "testing"

func TestClassesAndReuse(t *testing.T) {
	var p Pool
	for _, n := range []int{0, 1, 4096, 4097, 1 << 20, 16<<20 + 1} {
		b := p.Get(n)
		if len(*b) != n || cap(*b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		p.Put(b)
	}
	b := p.Get(3 << 20)
	if cap(*b) != 4<<20 {
		t.Fatalf("3 MiB buffer has capacity %d, want the 4 MiB class", cap(*b))
	}
	p.Put(b)
	// A foreign buffer whose capacity is not a class size is dropped.
	odd := make([]byte, 5000)
	p.Put(&odd)
	if got := p.Get(5000); cap(*got) != 8192 {
		t.Fatalf("odd buffer reused: cap %d", cap(*got))
	}
}

func BenchmarkGetPut1MiB(b *testing.B) {
	var p Pool
	b.ReportAllocs()
	for b.Loop() {
		p.Put(p.Get(1 << 20))
	}
}
