package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk/clientsdktest"
	"github.com/stratacache/stratacache/messages"
)

func startFake(t *testing.T) *clientsdktest.Server {
	t.Helper()
	s, err := clientsdktest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func blob(k string) artifact.ID { return artifact.MustID(artifact.NamespaceBlob, k) }

func TestPutGetExistsDelete(t *testing.T) {
	s := startFake(t)
	c := newClient(t, WithNodes(s.Addr()))
	ctx := context.Background()
	id := blob("a")
	if err := c.Put(ctx, id, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	got, err := c.Get(ctx, buf, id)
	if err != nil || string(got) != "hello" {
		t.Fatalf("get = %q, %v", got, err)
	}
	if &got[:1][0] != &buf[:1][0] {
		t.Fatal("Get did not use the caller's buffer")
	}
	pb, err := c.GetPooled(ctx, id)
	if err != nil || string(pb.Bytes()) != "hello" {
		t.Fatalf("pooled = %v, %v", pb, err)
	}
	pb.Release()
	if ok, err := c.Exists(ctx, id); !ok || err != nil {
		t.Fatalf("exists = %v, %v", ok, err)
	}
	if ok, err := c.Delete(ctx, id); !ok || err != nil {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if _, err := c.Get(ctx, nil, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	if ok, err := c.Exists(ctx, id); ok || err != nil {
		t.Fatalf("exists after delete = %v, %v", ok, err)
	}
}

func TestBatch(t *testing.T) {
	s := startFake(t)
	c := newClient(t, WithNodes(s.Addr()))
	ctx := context.Background()
	ids := []artifact.ID{blob("x"), blob("y"), blob("z")}
	stored, err := c.MPut(ctx, ids[:2], [][]byte{[]byte("1"), []byte("22")})
	if err != nil || !stored[0] || !stored[1] {
		t.Fatalf("mput = %v, %v", stored, err)
	}
	got, err := c.MGet(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0]) != "1" || string(got[1]) != "22" || got[2] != nil {
		t.Fatalf("mget = %q", got)
	}
	ex, err := c.MExists(ctx, ids)
	if err != nil || !ex[0] || !ex[1] || ex[2] {
		t.Fatalf("mexists = %v, %v", ex, err)
	}
	if _, err := c.MPut(ctx, ids, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mismatched MPut: %v", err)
	}
}

func TestRetriesTransientOnly(t *testing.T) {
	s := startFake(t)
	c := newClient(t, WithNodes(s.Addr()), WithRetries(3, time.Microsecond, time.Millisecond))
	ctx := context.Background()
	id := blob("r")
	// Busy twice (the node closes those connections), then stored.
	s.FailNext("busy", "closed")
	if err := c.Put(ctx, id, []byte("v")); err != nil {
		t.Fatalf("put after transient errors: %v", err)
	}
	if n := s.Ops(messages.Op_OP_PUT); n != 3 {
		t.Fatalf("PUT sent %d times, want 3", n)
	}
	// A dropped connection mid-request is retried too.
	s.DropNext(1)
	if _, err := c.Get(ctx, nil, id); err != nil {
		t.Fatalf("get after drop: %v", err)
	}
	// Final answers are not retried.
	for code, want := range map[string]error{"too_large": ErrTooLarge, "no_space": ErrNoSpace,
		"corrupt": ErrCorrupt, "invalid_argument": ErrInvalid, "collision": ErrCollision, "internal": ErrRemote} {
		before := s.Ops(messages.Op_OP_PUT)
		s.FailNext(code)
		err := c.Put(ctx, id, []byte("v"))
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", code, err, want)
		}
		if n := s.Ops(messages.Op_OP_PUT) - before; n != 1 {
			t.Fatalf("%s: sent %d times, want 1", code, n)
		}
	}
	// Retries run out: the last transient error is returned.
	s.FailNext("busy", "busy", "busy", "busy")
	if err := c.Put(ctx, id, []byte("v")); !errors.Is(err, ErrBusy) {
		t.Fatalf("exhausted retries: %v, want ErrBusy", err)
	}
}

func TestDeadlineAndCancel(t *testing.T) {
	s := startFake(t)
	c := newClient(t, WithNodes(s.Addr()), WithRetries(3, time.Microsecond, time.Millisecond))
	id := blob("d")
	if err := c.Put(context.Background(), id, []byte("v")); err != nil {
		t.Fatal(err)
	}
	release := s.Hold()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err := c.Get(ctx, nil, id)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("held get: %v, want DeadlineExceeded", err)
	}
	// Cancellation without a deadline interrupts a blocked request too.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Get(ctx, nil, id); done <- err }()
	for s.Ops(messages.Op_OP_GET) < 2 {
		time.Sleep(time.Millisecond) // polling a condition, not synchronising on time
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled get: %v, want Canceled", err)
	}
	release()
	// The broken connections were discarded: the next request works.
	got, err := c.Get(context.Background(), nil, id)
	if err != nil || string(got) != "v" {
		t.Fatalf("get after deadline: %q, %v", got, err)
	}
}

func TestAuth(t *testing.T) {
	s := startFake(t)
	s.Token = "secret"
	bad := newClient(t, WithNodes(s.Addr()), WithToken("wrong"))
	if err := bad.Put(context.Background(), blob("a"), nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong token: %v, want ErrAuth", err)
	}
	good := newClient(t, WithNodes(s.Addr()), WithToken("secret"))
	if err := good.Put(context.Background(), blob("a"), []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestRoutesToOwnerAcrossMembershipChanges(t *testing.T) {
	a, b, x := startFake(t), startFake(t), startFake(t)
	ix := NewIndex(ScoreConfig{})
	ix.SetMembers([]Member{{Name: "a", Addr: a.Addr()}, {Name: "b", Addr: b.Addr()}})
	c := newClient(t, WithIndex(ix))
	ctx := context.Background()
	id := blob("owned")
	// The directory says b owns it: the request goes to b, whatever the
	// rendezvous home is.
	ix.Put("b", id.Hash, TierCPU)
	if err := c.Put(ctx, id, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if !b.Has(uint8(artifact.NamespaceBlob), "owned") || a.Has(uint8(artifact.NamespaceBlob), "owned") {
		t.Fatal("put did not go to the owner b")
	}
	ix.Put("a", id.Hash, TierCXL)
	if err := c.Put(ctx, id, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if !a.Has(uint8(artifact.NamespaceBlob), "owned") {
		t.Fatal("put did not follow the new owner a")
	}
	// a leaves, x joins: a's entries are dropped and the request goes to
	// the rendezvous home among {b, x}.
	ix.SetMembers([]Member{{Name: "b", Addr: b.Addr()}, {Name: "x", Addr: x.Addr()}})
	if _, _, ok := ix.Owner(id.Hash); ok {
		t.Fatal("entry of a departed member kept")
	}
	id2 := blob("fresh")
	if err := c.Put(ctx, id2, []byte("3")); err != nil {
		t.Fatal(err)
	}
	home := map[string]*clientsdktest.Server{"b": b, "x": x}[homeOf(id2.Hash, "b", "x")]
	if !home.Has(uint8(artifact.NamespaceBlob), "fresh") {
		t.Fatal("put did not go to the rendezvous home")
	}
	// The owner fails: the client falls back to the next member.
	ix.Put("x", id2.Hash, TierCPU)
	_ = x.Close()
	got, err := c.Get(ctx, nil, id2)
	if home == x {
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("fallback get: %q, %v (b never had it: want ErrNotFound)", got, err)
		}
	} else if err != nil || string(got) != "3" {
		t.Fatalf("fallback get: %q, %v", got, err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(); !errors.Is(err, ErrNoNodes) {
		t.Fatalf("no nodes: %v", err)
	}
	c, err := New(WithNodes("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	_ = c.Close()
	if err := c.Put(context.Background(), blob("a"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestConnectionCap(t *testing.T) {
	s := startFake(t)
	c := newClient(t, WithNodes(s.Addr()), WithMaxConnsPerNode(2))
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := c.Put(ctx, blob(fmt.Sprint(g, "/", i)), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := s.Accepted(); n > 2 {
		t.Fatalf("%d connections for a cap of 2", n)
	}
	// A caller waiting for a slot gives up with its context.
	one := newClient(t, WithNodes(s.Addr()), WithMaxConnsPerNode(1), WithRetries(0, 0, 0))
	release := s.Hold()
	defer release()
	done := make(chan error, 1)
	go func() { done <- one.Put(ctx, blob("held"), nil) }()
	for s.Ops(messages.Op_OP_PUT) < 321 {
		time.Sleep(time.Millisecond) // polling a condition
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := one.Put(short, blob("waits"), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a slot: %v", err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
