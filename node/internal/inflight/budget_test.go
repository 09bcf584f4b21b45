package inflight

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	b := New(100, 20*time.Millisecond)
	ctx := context.Background()
	if err := b.Acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.Acquire(ctx, 50); !errors.Is(err, ErrBusy) {
		t.Fatalf("over budget after the wait: %v", err)
	}
	if err := b.Acquire(ctx, 101); !errors.Is(err, ErrBusy) {
		t.Fatalf("larger than the budget: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Acquire(ctx, 50) }()
	b.Release(60) // the waiter gets its bytes
	if err := <-got; err != nil && !errors.Is(err, ErrBusy) {
		t.Fatal(err)
	}
	st := b.Stats()
	if st.Size != 100 || st.Peak < 60 || st.Refusals < 2 || st.Waits < 1 {
		t.Fatalf("stats %+v", st)
	}
	var nilB *Budget
	if err := nilB.Acquire(ctx, 1<<40); err != nil {
		t.Fatal("a nil budget admits everything")
	}
	nilB.Release(1)
}
