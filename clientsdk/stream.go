package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/stratacache/stratacache/holdings"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
)

// defaultStreamIdle bounds the wait for a stream's next frame: nodes send
// an empty frame every cluster.Config.FeedKeepAlive (5 s by default), so
// three missed keep-alives mean the node or the path to it is gone.
const defaultStreamIdle = 15 * time.Second

// errGap: a stream frame did not follow what the Follower applied.
var errGap = errors.New("clientsdk: change stream gap")

// SetStreamIdle changes how long Run waits for a member's next stream
// frame before it takes the member for gone (default 15 s; keep it above
// the nodes' keep-alive interval). Call it before Run.
func (f *Follower) SetStreamIdle(d time.Duration) {
	if d > 0 {
		f.streamIdle = d
	}
}

// Run follows the cluster until ctx ends: every interval it takes the
// members from its MemberSource, and it holds one change stream open per
// member (OP_PEER_SUBSCRIBE with attrs["stream"]; docs/clientsdk.md): the
// node pushes its changes as they happen, each frame carrying the
// sequence numbers it spans. The first frame of a stream answers where
// the Follower is in that member's feed (a resync of that member only
// when it is new, restarted, or further behind than the node's log);
// a frame that does not follow what was applied (a gap) restarts that
// member's stream from a resync, and no other member's. A member that
// cannot be reached is marked down in the index (out of the scores at
// once) and its stream retried with the index's backoff; it keeps its
// entries until it leaves the member list. Errors (membership, streams)
// go to onErr (nil: ignored); Run keeps going. Sync may be called
// meanwhile (it polls).
func (f *Follower) Run(ctx context.Context, interval time.Duration, onErr func(error)) {
	report := func(err error) {
		if err != nil && onErr != nil {
			onErr(err)
		}
	}
	type running struct {
		addr   string
		cancel context.CancelFunc
	}
	streams := map[string]running{}
	var wg sync.WaitGroup
	defer func() {
		for _, s := range streams {
			s.cancel()
		}
		wg.Wait()
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ms, err := f.members(ctx)
		if err != nil {
			report(err)
		} else {
			f.ix.SetMembers(ms)
			f.mu.Lock()
			f.forgetDepartedLocked(ms)
			f.mu.Unlock()
			want := map[string]Member{}
			for _, m := range ms {
				if m.PeerAddr != "" {
					want[m.Name] = m
				}
			}
			for name, s := range streams {
				if m, ok := want[name]; !ok || m.PeerAddr != s.addr {
					s.cancel()
					delete(streams, name)
				}
			}
			for name, m := range want {
				if _, ok := streams[name]; ok {
					continue
				}
				sctx, cancel := context.WithCancel(ctx)
				streams[name] = running{addr: m.PeerAddr, cancel: cancel}
				wg.Add(1)
				go func() {
					defer wg.Done()
					f.follow(sctx, m, report)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// follow keeps m's stream open until ctx ends, reconnecting after a
// failure once the index's backoff for m has passed (at once after a
// gap). A stream refused by a node that is up (too many streams, a
// token it does not take) is retried after a backoff of its own, from
// 50 ms doubling to 5 s, reset once a stream delivered a frame.
func (f *Follower) follow(ctx context.Context, m Member, report func(error)) {
	wait := time.NewTimer(0)
	defer wait.Stop()
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		if !f.ix.RetryDue(m.Name) {
			wait.Reset(50 * time.Millisecond)
			continue
		}
		got, err := f.stream(ctx, m)
		if ctx.Err() != nil {
			return
		}
		if got {
			backoff = 50 * time.Millisecond
		}
		switch {
		case errors.Is(err, errGap):
			wait.Reset(0)
			continue // a resync of this member, at once
		case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			f.ix.MarkDown(m.Name, err) // out of the scores; retried with backoff
		}
		report(fmt.Errorf("clientsdk: change stream of %s: %w", m.Name, err))
		wait.Reset(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// stream runs one stream connection to m until it fails (it never
// returns a nil error); got reports whether a frame arrived before it
// failed.
func (f *Follower) stream(ctx context.Context, m Member) (got bool, err error) {
	cn, err := f.c.dial(ctx, peerPrefix+m.PeerAddr)
	if err != nil {
		return false, err
	}
	nc, r, err := cn.fc.Detach()
	if err != nil {
		_ = cn.close()
		return false, classify(m.PeerAddr, "stream", err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() }) // a cancellation ends a blocked read
	defer stop()
	f.mu.Lock()
	p := f.pos[m.Name]
	f.stats.Streams++
	f.mu.Unlock()
	req := &messages.FrameHeader{Op: messages.Op_OP_PEER_SUBSCRIBE, RequestId: 1, Attrs: map[string]string{
		"epoch": strconv.FormatUint(p.epoch, 10), "since": strconv.FormatUint(p.seq, 10), "stream": "1"}}
	_ = nc.SetWriteDeadline(time.Now().Add(f.c.o.HandshakeTimeout + f.c.o.DialTimeout))
	if _, err := frame.Write(nc, nil, req); err != nil {
		return false, classify(m.PeerAddr, "stream", err)
	}
	var hdr messages.FrameHeader
	var buf []byte
	var fd holdings.Feed
	for first := true; ; first = false {
		_ = nc.SetReadDeadline(time.Now().Add(f.streamIdle))
		if _, err := r.Next(&hdr); err != nil {
			if ctx.Err() != nil {
				return !first, ctx.Err()
			}
			return !first, classify(m.PeerAddr, "stream", err)
		}
		if hdr.GetOp() == messages.Op_OP_ERROR {
			return !first, replyError(&hdr)
		}
		if hdr.GetOp() != messages.Op_OP_REPLY || hdr.GetRequestId() != 1 {
			return !first, fmt.Errorf("%w: %s: stream frame %v for request %d", ErrProtocol, m.PeerAddr, hdr.GetOp(), hdr.GetRequestId())
		}
		size := r.Pending()
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if err := r.ReadPayload(buf); err != nil {
			return !first, classify(m.PeerAddr, "stream", err)
		}
		if err := holdings.DecodeFeed(buf, &fd); err != nil {
			return !first, err
		}
		if !fd.Stream {
			return !first, fmt.Errorf("%w: %s: a stream frame without its sequence numbers", ErrProtocol, m.PeerAddr)
		}
		if err := f.applyFrame(m.Name, &fd, len(buf)); err != nil {
			return !first, err
		}
		if first {
			f.ix.MarkUp(m.Name) // it answered
		}
		if cap(buf) > 1<<20 {
			buf, fd.Changes = nil, nil // do not keep a resync's buffers
		}
	}
}

// applyFrame applies one stream frame of member: a resync replaces what
// the member held; changes must follow the member's place (a frame that
// starts past it is a gap: the member's place is reset, so that the next
// stream starts with a resync; one a poll already applied is skipped).
func (f *Follower) applyFrame(member string, fd *holdings.Feed, size int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.Frames++
	f.stats.Bytes += uint64(size)
	if n := f.testDrop[member]; n > 0 && len(fd.Changes) > 0 && !fd.Resync {
		f.testDrop[member] = n - 1
		return nil
	}
	if fd.Resync {
		f.applyLocked(member, fd) // counts the resync
		return nil
	}
	p, known := f.pos[member]
	if !known || fd.Epoch != p.epoch || fd.From > p.seq {
		f.stats.Gaps++
		delete(f.pos, member)
		return fmt.Errorf("%w: %s sent changes %d-%d of epoch %d, the follower is at %d of epoch %d",
			errGap, member, fd.From+1, fd.Seq, fd.Epoch, p.seq, p.epoch)
	}
	if fd.Seq <= p.seq {
		return nil // applied already (a Sync got there first)
	}
	fd.Changes = fd.Changes[p.seq-fd.From:]
	f.applyLocked(member, fd)
	return nil
}
