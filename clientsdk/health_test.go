package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk/clientsdktest"
)

// fakeClock is a settable clock for the Index's retry backoff.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func names(sc []Score) []string {
	var out []string
	for _, s := range sc {
		out = append(out, s.Node)
	}
	slices.Sort(out)
	return out
}

// A member marked down leaves ScoreNodes, PrefixLookup and Scores at
// once, and the blocks it holds stop counting as cached (nobody can fetch
// them); its retries are due after a doubling backoff; marked up (or
// re-listed by SetMembers under the same name), it is back.
func TestDownMemberLeavesScores(t *testing.T) {
	ix := NewIndex(DefaultScoreConfig())
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ix.clock = clk.now
	ix.SetRetryPolicy(RetryPolicy{Base: time.Second, Max: 4 * time.Second})
	ix.SetMembers([]Member{{Name: "a", Addr: "a:1"}, {Name: "b", Addr: "b:1"}, {Name: "c", Addr: "c:1"}})
	h, _ := NewHasher(HashConfig{Model: "m"})
	var p Prompt
	_ = h.Hash(&p, seq(64))
	ids := p.Levels[0].IDs
	ix.Put("a", ids[0], TierCPU)
	ix.Put("b", ids[1], TierCPU)
	ix.Put("b", ids[2], TierCPU)

	sc := ix.ScoreNodes(nil, &p, nil)
	if got := names(sc); !slices.Equal(got, []string{"a", "b", "c"}) || sc[0].CachedTokens != 48 {
		t.Fatalf("before: %+v", sc)
	}
	ix.MarkDown("b", errors.New("refused"))
	sc = ix.ScoreNodes(sc[:0], &p, nil)
	if got := names(sc); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("b down, ScoreNodes lists %v", got)
	}
	if sc[0].CachedTokens != 16 {
		t.Fatalf("b's blocks still count as cached: %+v", sc[0])
	}
	if sc = ix.ScoreNodes(sc[:0], &p, []string{"b", "c"}); len(sc) != 1 || sc[0].Node != "c" {
		t.Fatalf("b down, explicit candidates: %+v", sc)
	}
	for _, x := range ix.PrefixLookup(nil, &p) {
		if x.Node == "b" {
			t.Fatal("PrefixLookup lists a member that is down")
		}
	}
	if s, err := ix.Scores(context.Background(), h, seq(64)); err != nil || len(s) != 2 {
		t.Fatalf("Scores: %+v, %v", s, err)
	}
	if a := testing.AllocsPerRun(20, func() { sc = ix.ScoreNodes(sc[:0], &p, nil) }); a != 0 && !raceOn {
		t.Fatalf("ScoreNodes with a member down allocates %v per call", a)
	}
	// Backoff: 1 s, then doubling up to 4 s.
	if ix.RetryDue("b") {
		t.Fatal("retry due at once")
	}
	clk.add(time.Second)
	if !ix.RetryDue("b") {
		t.Fatal("retry not due after the first backoff")
	}
	ix.MarkDown("b", errors.New("refused again"))
	clk.add(time.Second)
	if ix.RetryDue("b") {
		t.Fatal("the backoff did not double")
	}
	clk.add(time.Second)
	if !ix.RetryDue("b") || !ix.Down("b") {
		t.Fatal("second retry not due after 2 s")
	}
	if d := ix.DownMembers(); len(d) != 1 || d[0].Name != "b" || d[0].Failures != 2 || d[0].Cause.Error() != "refused again" {
		t.Fatalf("DownMembers: %+v", d)
	}
	// Still listed by the membership: still down.
	ix.SetMembers([]Member{{Name: "a", Addr: "a:1"}, {Name: "b", Addr: "b:1"}, {Name: "c", Addr: "c:1"}})
	if !ix.Down("b") {
		t.Fatal("SetMembers forgot that b is down")
	}
	ix.MarkUp("b")
	if got := names(ix.ScoreNodes(nil, &p, nil)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("b back up, ScoreNodes lists %v", got)
	}
	ix.MarkDown("a", errors.New("x"))
	ix.MarkDown("b", errors.New("x"))
	ix.MarkDown("c", errors.New("x"))
	if _, err := ix.Scores(context.Background(), h, seq(64)); !errors.Is(err, ErrNoNodes) {
		t.Fatalf("every member down: %v, want ErrNoNodes", err)
	}
}

// The client marks a node down the moment a connection to it fails:
// its chunk's Get says ErrUnavailable (not ErrNotFound, unless the caller
// folds it into a miss), the next ScoreNodes leaves it out, requests stop
// trying it first, and once it is back and its retry is due, a request
// reaches it and it is back in the scores.
func TestClientMarksDeadNodeDown(t *testing.T) {
	a, b, x := startFake(t), startFake(t), startFake(t)
	ix := NewIndex(DefaultScoreConfig())
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ix.clock = clk.now
	ix.SetMembers([]Member{{Name: "a", Addr: a.Addr()}, {Name: "b", Addr: b.Addr()}, {Name: "x", Addr: x.Addr()}})
	c := newClient(t, WithIndex(ix), WithRetries(2, time.Millisecond, time.Millisecond))
	fold := newClient(t, WithIndex(ix), WithRetries(2, time.Millisecond, time.Millisecond), WithUnavailableAsMiss())
	ctx := context.Background()
	id := blob("on-x")
	if err := c.On("x").Put(ctx, id, []byte("kv")); err != nil {
		t.Fatal(err)
	}
	ix.Put("x", id.Hash, TierCPU) // what the directory would say
	h, _ := NewHasher(HashConfig{Model: "m"})
	var p Prompt
	_ = h.Hash(&p, seq(16))

	xAddr := x.Addr()
	_ = x.Close() // killed: its port refuses
	_, err := c.Get(ctx, nil, id)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("get of a dead node's chunk: %v, want ErrUnavailable", err)
	}
	if !ix.Down("x") {
		t.Fatal("a refused connection did not mark x down")
	}
	if got := names(ix.ScoreNodes(nil, &p, nil)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("the next ScoreNodes lists %v", got)
	}
	if ok, err := c.Exists(ctx, id); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("exists: %v %v, want ErrUnavailable", ok, err)
	}
	if _, err := fold.Get(ctx, nil, id); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("get with WithUnavailableAsMiss: %v, want ErrNotFound", err)
	}
	if ok, err := fold.Exists(ctx, id); ok || err != nil {
		t.Fatalf("exists with WithUnavailableAsMiss: %v %v, want a miss", ok, err)
	}
	// Other requests go on while x is down.
	if err := c.Put(ctx, blob("elsewhere"), []byte("v")); err != nil {
		t.Fatalf("put with one node down: %v", err)
	}
	// x comes back on its address (empty: it lost its memory). Before its
	// retry is due nothing is sent to it; after, a request reaches it and
	// marks it up, and it is back in the scores.
	x2, err := clientsdktest.StartAt(xAddr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", xAddr, err)
	}
	t.Cleanup(func() { _ = x2.Close() })
	if _, err := c.Get(ctx, nil, id); !errors.Is(err, ErrUnavailable) || x2.Accepted() != 0 {
		t.Fatalf("before the retry is due: %v, %d connections to x", err, x2.Accepted())
	}
	clk.add(defaultRetry.Max)
	if _, err := c.Get(ctx, nil, id); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("x back (and empty): %v, want a plain miss", err)
	}
	if ix.Down("x") || x2.Accepted() == 0 {
		t.Fatal("the retry did not reach x and mark it up")
	}
	if got := names(ix.ScoreNodes(nil, &p, nil)); !slices.Equal(got, []string{"a", "b", "x"}) {
		t.Fatalf("x back, ScoreNodes lists %v", got)
	}
	if err := c.On("x").Put(ctx, id, []byte("kv2")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, nil, id); err != nil || string(got) != "kv2" {
		t.Fatalf("get from x: %q %v", got, err)
	}
}

// With DefaultScoreConfig a node holding the whole cached prefix never
// scores below a node holding none, whatever the loads, tiers and prompt
// lengths (seeded random cases, one and two block sizes).
func TestScoresDefaultsRankHolderAboveEmpty(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for trial := 0; trial < 300; trial++ {
		ix := NewIndex(DefaultScoreConfig())
		n := 2 + rng.IntN(7)
		ms := make([]Member, n)
		for i := range ms {
			ms[i] = Member{Name: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("n%d:1", i)}
			switch rng.IntN(3) {
			case 0:
				ms[i].Load = 0
			case 1:
				ms[i].Load = float64(rng.IntN(8))
			default:
				ms[i].Load = rng.Float64() * 1e6
			}
		}
		ix.SetMembers(ms)
		sizes := []int{16}
		if rng.IntN(2) == 0 {
			sizes = []int{16, 64}
		}
		h, _ := NewHasher(HashConfig{Model: "m", BlockSizes: sizes, Partial: rng.IntN(2) == 0})
		tokens := seq(16 + rng.IntN(600))
		var p Prompt
		_ = h.Hash(&p, tokens)
		holder := ms[rng.IntN(n)].Name
		tier := Tier(1 + rng.IntN(4)) // GPU, CPU, CXL, disk
		for _, lv := range p.Levels {
			cached := rng.IntN(len(lv.IDs) + 1)
			if lv.BlockSize == 16 {
				cached = max(cached, 1)
			}
			for _, id := range lv.IDs[:cached] {
				ix.Put(holder, id, tier)
			}
		}
		sc, err := ix.Scores(context.Background(), h, tokens)
		if err != nil {
			t.Fatal(err)
		}
		var hs Score
		for _, s := range sc {
			if s.Node == holder {
				hs = s
			}
		}
		for _, s := range sc {
			if s.Node != holder && s.Score >= hs.Score {
				t.Fatalf("trial %d: %s (holds nothing, load %v) scores %v >= holder %s (tier %s, load %v) %v over %d cached tokens",
					trial, s.Node, loadOf(ms, s.Node), s.Score, holder, tier, loadOf(ms, holder), hs.Score, hs.CachedTokens)
			}
		}
		if sc[0].Node != holder {
			t.Fatalf("trial %d: holder not first: %+v", trial, sc)
		}
	}
}

func loadOf(ms []Member, name string) float64 {
	for _, m := range ms {
		if m.Name == name {
			return m.Load
		}
	}
	return -1
}

// Scores in one call: hashed with the client's HashConfig, best first,
// with the nodes' addresses; load breaks ties among nodes that hold
// alike; misuse is ErrInvalid.
func TestClientScores(t *testing.T) {
	ix := NewIndex(DefaultScoreConfig())
	ix.SetMembers([]Member{{Name: "a", Addr: "127.0.0.1:1", Load: 3}, {Name: "b", Addr: "127.0.0.1:2"}, {Name: "c", Addr: "127.0.0.1:3", Load: 1}})
	hc := HashConfig{Model: "m", BlockSizes: []int{16}}
	c := newClient(t, WithIndex(ix), WithHashConfig(hc))
	h, _ := NewHasher(hc)
	var p Prompt
	_ = h.Hash(&p, seq(48))
	for _, id := range p.Levels[0].IDs {
		ix.Put("a", id, TierCPU)
	}
	sc, err := c.Scores(context.Background(), seq(48))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{sc[0].Node, sc[1].Node, sc[2].Node}; !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("order %v: %+v", got, sc)
	}
	if sc[0].Addr != "127.0.0.1:1" || sc[0].LocalTokens != 48 || sc[0].CachedTokens != 48 {
		t.Fatalf("a: %+v", sc[0])
	}
	if sc, _ := c.Scores(context.Background(), seq(48), "c", "b"); len(sc) != 2 || sc[0].Node != "b" {
		t.Fatalf("candidates: %+v", sc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Scores(ctx, seq(48)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	bare := newClient(t, WithIndex(ix))
	if _, err := bare.Scores(context.Background(), seq(48)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("without a HashConfig: %v, want ErrInvalid", err)
	}
	_ = artifact.NamespaceKV
}
