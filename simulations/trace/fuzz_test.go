package trace

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRead: any input either reads into a consistent trace or fails with a
// sentinel error; it never panics.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"timestamp": 0, "input_length": 1500, "output_length": 5, "hash_ids": [10, 11, 12]}`))
	f.Add([]byte(`{"chat_id": 1, "parent_chat_id": -1, "timestamp": 1.5, "type": "text", "turn": 1, "hash_ids": [5, 7]}`))
	f.Add([]byte("{\"hash_ids\": [1]}\n{\"hash_ids\": [1, 2], \"x\": {\"y\": [\"]\", 1e5, null]}}\n"))
	f.Add([]byte(`{"hash_ids": [18446744073709551615]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lenient := range []bool{false, true} {
			tr, err := Read(bytes.NewReader(data), Options{Lenient: lenient})
			if err != nil {
				if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if int(tr.Offsets[tr.Len()]) != len(tr.Blocks) {
				t.Fatalf("offsets do not cover the blocks")
			}
			for _, b := range tr.Blocks {
				if b == 0 || int(b) > tr.NumBlocks() {
					t.Fatalf("block id %d outside 1..%d", b, tr.NumBlocks())
				}
			}
		}
	})
}
