package clientsdk

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/artifact"
)

var errFakeMissing = errors.New("fake engine: not found")

// fakeNode satisfies Embedded the way node/ is meant to: a store in the
// same process, its own errors named by the wire's codes.
type fakeNode struct {
	mu     sync.Mutex
	data   map[uint64][]byte
	warmed map[uint64]bool
}

func newFakeNode() *fakeNode {
	return &fakeNode{data: map[uint64][]byte{}, warmed: map[uint64]bool{}}
}

func (f *fakeNode) Store(_ context.Context, id artifact.ID, p []byte, _ artifact.Meta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[id.Hash] = append([]byte(nil), p...)
	return nil
}

func (f *fakeNode) Load(_ context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.data[id.Hash]
	if !ok {
		return dst, artifact.Meta{}, errFakeMissing
	}
	return append(dst, b...), artifact.Meta{Length: int64(len(b))}, nil
}

func (f *fakeNode) Contains(_ context.Context, id artifact.ID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.data[id.Hash]
	return ok, nil
}

func (f *fakeNode) Delete(_ context.Context, id artifact.ID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.data[id.Hash]
	delete(f.data, id.Hash)
	return ok, nil
}

func (f *fakeNode) Prefetch(_ context.Context, ids []artifact.ID) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, id := range ids {
		if _, ok := f.data[id.Hash]; ok {
			f.warmed[id.Hash] = true
			n++
		}
	}
	return n, nil
}

func (f *fakeNode) ErrorCode(err error) string {
	if errors.Is(err, errFakeMissing) {
		return "not_found"
	}
	return "internal"
}

func TestEmbeddedMode(t *testing.T) {
	fn := newFakeNode()
	c := newClient(t, WithEmbedded(fn))
	ctx := context.Background()
	id := blob("e")
	if err := c.Put(ctx, id, []byte("in-process")); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, make([]byte, 0, 32), id)
	if err != nil || string(got) != "in-process" {
		t.Fatalf("get = %q, %v", got, err)
	}
	if ok, _ := c.Exists(ctx, id); !ok {
		t.Fatal("exists = false")
	}
	mg, err := c.MGet(ctx, []artifact.ID{id, blob("none")})
	if err != nil || string(mg[0]) != "in-process" || mg[1] != nil {
		t.Fatalf("mget = %q, %v", mg, err)
	}
	if ok, _ := c.Delete(ctx, id); !ok {
		t.Fatal("delete = false")
	}
	if _, err := c.Get(ctx, nil, id); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	ps := c.ParamStore("m")
	for i := 0; i < 3; i++ {
		if err := ps.PutChunk(ctx, "w", i, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := ps.Prefetch(ctx, "w"); n != 3 || err != nil {
		t.Fatalf("prefetch = %d, %v", n, err)
	}
	id0, _ := artifact.ParamKey{Model: "m", Name: "w", Chunk: 0}.ID()
	if !fn.warmed[id0.Hash] {
		t.Fatal("chunk 0 not warmed")
	}
}
