package cluster

import (
	"sync"

	"github.com/stratacache/stratacache/holdings"
)

// feed is this node's own holdings and their change log, built from its
// own tier events (Observe), not from the directory: what schedulers follow
// (OP_PEER_SUBSCRIBE, OP_PEER_SUMMARY) is the node's report of itself,
// whatever the directory's partitioning. Sequence numbers start at 1 with
// each epoch.
type feed struct {
	epoch  uint64
	logLen int // changes kept (Config.FeedLogLen)

	mu   sync.Mutex
	seq  uint64
	held map[uint64]uint8 // hash -> tier kind of its last store
	log  []feedChange     // ring of the last feedLogLen changes
	head int              // next write position in log
	wake chan struct{}    // closed at the next change (nil: nobody waits)

	sumMu  sync.Mutex
	sumSeq uint64
	sum    []byte // encoded summary as of sumSeq
}

type feedChange struct {
	seq uint64
	c   holdings.Change
}

func newFeed(epoch uint64, logLen int) *feed {
	return &feed{epoch: epoch, logLen: logLen, held: map[uint64]uint8{}}
}

// note records a change of what the node holds. Cheap: a map update and a
// ring write under one lock.
func (f *feed) note(ev Event) {
	h := ev.ID.Hash
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Kind {
	case EventStored:
		// The fastest medium that took it (a write-through store reaches
		// every tier: memory then CXL is reported as memory).
		k := uint8(ev.Tier)
		if old, ok := f.held[h]; ok && old <= k {
			return
		}
		f.held[h] = k
		f.appendLocked(holdings.Change{Hash: h, Kind: k})
	case EventEvicted, EventDeleted:
		if _, ok := f.held[h]; !ok {
			return
		}
		delete(f.held, h)
		f.appendLocked(holdings.Change{Hash: h, Del: true})
	}
}

func (f *feed) appendLocked(c holdings.Change) {
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
	f.seq++
	fc := feedChange{seq: f.seq, c: c}
	if len(f.log) < f.logLen {
		f.log = append(f.log, fc)
		return
	}
	f.log[f.head] = fc
	f.head = (f.head + 1) % f.logLen
}

// since fills out with the changes after seq since of epoch, or with the
// whole holding set (Resync) when the subscriber is of another epoch, ahead
// of the feed, or further behind than the log keeps.
func (f *feed) since(epoch, since uint64, out *holdings.Feed) {
	f.sinceMax(epoch, since, 0, out)
}

// changed returns a channel closed at the next change and the sequence
// number now (streams wait on it).
func (f *feed) changed() (<-chan struct{}, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return f.wake, f.seq
}

// sinceMax is since with at most limit changes (0: all); out.Seq is then
// where those changes end, and the rest follow in the next call.
func (f *feed) sinceMax(epoch, since uint64, limit int, out *holdings.Feed) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out.Epoch, out.Seq, out.Resync = f.epoch, f.seq, false
	out.Changes = out.Changes[:0]
	oldest := f.seq - uint64(len(f.log)) // changes after it are in the log
	if epoch != f.epoch || since > f.seq || since < oldest {
		out.Resync = true
		for h, k := range f.held {
			out.Changes = append(out.Changes, holdings.Change{Hash: h, Kind: k})
		}
		return
	}
	behind := int(f.seq - since)
	n := behind
	if limit > 0 && n > limit {
		n = limit
		out.Seq = since + uint64(n)
	}
	if n == 0 {
		return
	}
	start := (f.head + len(f.log) - behind) % len(f.log)
	for i := 0; i < n; i++ {
		out.Changes = append(out.Changes, f.log[(start+i)%len(f.log)].c)
	}
}

// summary returns the encoded filter over the held hashes, rebuilt when
// the holdings changed since the last one.
func (f *feed) summary() ([]byte, error) {
	f.sumMu.Lock()
	defer f.sumMu.Unlock()
	f.mu.Lock()
	seq := f.seq
	if f.sum != nil && seq == f.sumSeq {
		f.mu.Unlock()
		return f.sum, nil
	}
	keys := make([]uint64, 0, len(f.held))
	for h := range f.held {
		keys = append(keys, h)
	}
	f.mu.Unlock()
	flt, err := holdings.NewFilter(len(keys), holdings.DefaultBitsPerEntry, holdings.DefaultK)
	if err != nil {
		return nil, err
	}
	for _, h := range keys {
		flt.Add(h)
	}
	f.sum = flt.AppendTo(make([]byte, 0, flt.Bits()/8+32))
	f.sumSeq = seq
	return f.sum, nil
}
