package trace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedTrace returns the path of a trace in ../shared/traces (relative to
// the repository root), skipping the test when it is absent.
func sharedTrace(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join("..", "..", "..", "shared", "traces", name)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("trace %s not present (%v): skipping", p, err)
	}
	return p
}

func TestReadMooncake(t *testing.T) {
	in := `{"timestamp": 0, "input_length": 1500, "output_length": 5, "hash_ids": [10, 11, 12]}
{"timestamp": 27, "input_length": 1100, "output_length": 9, "hash_ids": [10, 11, 99], "extra": {"a": [1, "x"]}}

{"hash_ids": [], "timestamp": 30}
`
	tr, err := Read(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != FormatMooncake || tr.BlockTokens != 512 {
		t.Fatalf("format %v tokens %d", tr.Format, tr.BlockTokens)
	}
	if tr.Len() != 3 || tr.NumBlocks() != 4 || tr.Accesses() != 6 {
		t.Fatalf("len %d blocks %d accesses %d", tr.Len(), tr.NumBlocks(), tr.Accesses())
	}
	want := [][]uint32{{1, 2, 3}, {1, 2, 4}, {}}
	for i, w := range want {
		got := tr.Request(i)
		if len(got) != len(w) {
			t.Fatalf("request %d: %v want %v", i, got, w)
		}
		for j := range w {
			if got[j] != w[j] {
				t.Fatalf("request %d: %v want %v", i, got, w)
			}
		}
	}
	if tr.Parent[4] != 2 || tr.Depth[4] != 3 || tr.Parent[1] != 0 || tr.Depth[1] != 1 {
		t.Fatalf("parent/depth %v %v", tr.Parent, tr.Depth)
	}
	if tr.TimestampsMs[1] != 27 || tr.InputTokens[0] != 1500 || tr.OutputTokens[1] != 9 {
		t.Fatalf("fields %v %v %v", tr.TimestampsMs, tr.InputTokens, tr.OutputTokens)
	}
}

func TestReadBailianKeysByPath(t *testing.T) {
	// The id 7 appears under two different parents: two different blocks.
	in := `{"chat_id": 1, "parent_chat_id": -1, "timestamp": 1.5, "input_length": 40, "output_length": 3, "type": "text", "turn": 1, "hash_ids": [5, 7]}
{"chat_id": 2, "parent_chat_id": 1, "timestamp": 2.25, "input_length": 40, "output_length": 3, "type": "text", "turn": 2, "hash_ids": [6, 7]}
{"chat_id": 3, "parent_chat_id": -1, "timestamp": 3, "input_length": 40, "output_length": 3, "type": "search", "turn": 1, "hash_ids": [5, 7, 8]}
`
	tr, err := Read(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != FormatBailian || tr.BlockTokens != 16 {
		t.Fatalf("format %v", tr.Format)
	}
	if tr.NumBlocks() != 5 {
		t.Fatalf("distinct blocks %d, want 5 (7 under 5 and 7 under 6 differ)", tr.NumBlocks())
	}
	if tr.TimestampsMs[0] != 1500 || tr.TimestampsMs[1] != 2250 {
		t.Fatalf("timestamps %v", tr.TimestampsMs)
	}
	if got := tr.Request(2); got[0] != tr.Request(0)[0] || got[1] != tr.Request(0)[1] {
		t.Fatalf("shared path not shared: %v vs %v", got, tr.Request(0))
	}
}

func TestReadBadLine(t *testing.T) {
	in := "{\"hash_ids\": [1, 2]}\n{\"hash_ids\": [1, -2]}\n{\"hash_ids\": [3]}\n"
	_, err := Read(strings.NewReader(in), Options{Name: "x"})
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "x:2:") {
		t.Fatalf("err %v, want ErrSyntax at line 2", err)
	}
	tr, err := Read(strings.NewReader(in), Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 2 || tr.Skipped != 1 {
		t.Fatalf("len %d skipped %d", tr.Len(), tr.Skipped)
	}
	for _, bad := range []string{`{"hash_ids": [1.5]}`, `{"hash_ids": [1]`, `[1]`, `{"timestamp": 3}`, `{"hash_ids": [1]} x`} {
		if _, err := Read(strings.NewReader(bad), Options{}); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: err %v, want ErrSyntax", bad, err)
		}
	}
	if _, err := Read(strings.NewReader("\n\n"), Options{}); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
}

func TestSlice(t *testing.T) {
	in := "{\"hash_ids\": [1, 2]}\n{\"hash_ids\": [1, 3, 4]}\n{\"hash_ids\": [5]}\n"
	tr, err := Read(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := tr.Slice(1, 3)
	if s.Len() != 2 || s.Accesses() != 4 || s.Request(1)[0] != 5 {
		t.Fatalf("slice %+v", s)
	}
}

func TestReadSharedTraces(t *testing.T) {
	for _, c := range []struct {
		name                 string
		reqs, blocks, unique int
	}{
		{"conversation_trace.jsonl", 12031, 288500, 182790},
		{"synthetic_trace.jsonl", 3993, 121877, 43924},
	} {
		tr, err := ReadFile(sharedTrace(t, c.name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if tr.Len() != c.reqs || tr.Accesses() != c.blocks || tr.NumBlocks() != c.unique {
			t.Errorf("%s: %d requests %d blocks %d distinct, want %d %d %d",
				c.name, tr.Len(), tr.Accesses(), tr.NumBlocks(), c.reqs, c.blocks, c.unique)
		}
	}
}

func BenchmarkReadConversation(b *testing.B) {
	p := sharedTrace(b, "conversation_trace.jsonl")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(strings.NewReader(string(data)), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// A key given twice in one line is ambiguous (which hash_ids is the
// prompt?): the line is refused, as any other malformed line.
func TestRepeatedKeyRefused(t *testing.T) {
	for _, line := range []string{
		`{"hash_ids": [1, 2], "hash_ids": [3]}`,
		`{"timestamp": 1, "hash_ids": [1], "timestamp": 2}`,
		`{"input_length": 1, "hash_ids": [1], "input_length": 2}`,
		`{"output_length": 1, "output_length": 2, "hash_ids": [1]}`,
	} {
		_, err := Read(strings.NewReader(line+"\n"), Options{})
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "repeated") {
			t.Errorf("%s: err %v, want a syntax error naming the repeated key", line, err)
		}
	}
	// Unknown keys may repeat: they are skipped.
	if _, err := Read(strings.NewReader(`{"x": 1, "x": 2, "hash_ids": [1]}`+"\n"), Options{}); err != nil {
		t.Errorf("repeated unknown key: %v", err)
	}
}

func TestIsTree(t *testing.T) {
	for _, c := range []struct {
		in   string
		tree bool
	}{
		{`{"hash_ids": [1, 2, 3]}` + "\n" + `{"hash_ids": [1, 2, 4]}`, true},
		{`{"hash_ids": [1, 2]}` + "\n" + `{"hash_ids": [3, 2]}`, false}, // 2 under two parents
		{`{"hash_ids": [1, 1]}`, false},                                 // a block twice
		{`{"hash_ids": [5, 6, 5]}`, false},
	} {
		tr, err := Read(strings.NewReader(c.in+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if tr.IsTree() != c.tree {
			t.Errorf("%q: IsTree %v, want %v", c.in, tr.IsTree(), c.tree)
		}
	}
}
