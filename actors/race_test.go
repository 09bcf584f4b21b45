package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stratacache/stratacache/artifact"
)

// holdOnce arms a put fault on a fake tier that blocks the first put after
// arming until release is called: the test interleaves other operations with
// the held put.
type holdOnce struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newHoldOnce() *holdOnce {
	return &holdOnce{entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdOnce) fault(artifact.ID) error {
	held := false
	h.once.Do(func() { held = true })
	if held {
		close(h.entered)
		<-h.release
	}
	return nil
}

// A promotion reads the lower tier's copy and then puts it into the top
// tier. If a newer store (or a delete) of the key lands in between, the
// promotion must not install the older bytes: before versions, it did, and
// the chain then served the older value (or the deleted one) from the top.
func TestPromoteRacingNewerStoreOrDelete(t *testing.T) {
	for _, c := range []string{"newer store in the top tier", "newer store evicted below", "delete"} {
		t.Run(c, func(t *testing.T) {
			e, f := newEngine(t, []int64{3000, 1 << 20}, []LinkConfig{wt()}, true)
			ctx := context.Background()
			k := id("k")
			older, newer := payload(1, 1000), payload(2, 1000)
			if err := e.Store(ctx, k, older, StoreOptions{Access: Exact("t1")}); err != nil {
				t.Fatal(err)
			}
			h := newHoldOnce()
			f[0].SetPutFault(h.fault)
			// A chain read hits t1 and queues a promotion; its put into t0 is
			// held after it read the older bytes.
			if got, err := e.Load(ctx, nil, k, Chain()); err != nil || !bytes.Equal(got, older) {
				t.Fatalf("load: %v", err)
			}
			<-h.entered
			switch c {
			case "newer store in the top tier":
				if err := e.Store(ctx, k, newer, StoreOptions{}); err != nil {
					t.Fatal(err)
				}
			case "newer store evicted below":
				if err := e.Store(ctx, k, newer, StoreOptions{}); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 3; i++ { // t0 holds 3: k leaves it for t1
					if err := e.Store(ctx, id(fmt.Sprint("filler", i)), payload(int64(10+i), 1000), StoreOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				if f[0].Contains(k) {
					t.Fatal("the newer version is still in the top tier")
				}
			case "delete":
				if found, err := e.Delete(ctx, k); err != nil || !found {
					t.Fatalf("delete: %v %v", found, err)
				}
			}
			close(h.release)
			var st EngineStats
			waitFor(t, "the promotion to finish", func() bool { e.Stats(&st); return st.PendingPromotes == 0 })
			got, err := e.Load(ctx, nil, k, Chain())
			if c == "delete" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("deleted key came back through the promotion: %v (older: %v)", err, bytes.Equal(got, older))
				}
				return
			}
			if err != nil || !bytes.Equal(got, newer) {
				t.Fatalf("after the promotion: err %v, older value served: %v", err, bytes.Equal(got, older))
			}
			if f[0].Holds(k, older) {
				t.Fatal("the top tier holds the older version")
			}
		})
	}
}
