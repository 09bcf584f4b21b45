package kvevents

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
)

// ErrConfig is returned for a SubscriberConfig or PublisherConfig that
// cannot work.
var ErrConfig = errors.New("kvevents: bad config")

// Source is one vLLM pod's event endpoints (one per data-parallel rank:
// vLLM offsets the port by the rank).
type Source struct {
	// Pod names the pod in the index, scores and /v1/pods.
	Pod string
	// Endpoint is its PUB socket, tcp://host:port.
	Endpoint string
	// Replay is its ROUTER replay socket (optional; without it a
	// sequence gap cannot be repaired).
	Replay string
	// Topic is the subscription prefix ("" : everything, vLLM's default).
	Topic string
}

// SubscriberConfig configures a Subscriber. Zero durations take the
// defaults named below.
type SubscriberConfig struct {
	Sources []Source
	// Index receives the events (required).
	Index *Index
	// SilenceTimeout clears a pod that has been unreachable (no
	// connection, or its connection lost) this long: its cache is gone or
	// will be by the time it returns. Default 60 s; negative: never.
	SilenceTimeout time.Duration
	// IdleTimeout clears a pod that sent nothing for this long although
	// connected. Default 0: off, because vLLM publishes nothing while it
	// serves no requests and its cache stays valid.
	IdleTimeout time.Duration
	// BackoffMin and BackoffMax bound the redial backoff (full jitter,
	// doubling): defaults 100 ms and 5 s.
	BackoffMin, BackoffMax time.Duration
	// DialTimeout bounds one connect (default 2 s); ReplayTimeout one
	// replay exchange (default 5 s).
	DialTimeout, ReplayTimeout time.Duration
	// Seed seeds the backoff jitter.
	Seed int64
	// Logger (default: discard).
	Logger *slog.Logger
}

func (c *SubscriberConfig) ensureDefaults() {
	if c.SilenceTimeout == 0 {
		c.SilenceTimeout = 60 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 5 * time.Second
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.ReplayTimeout <= 0 {
		c.ReplayTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// ParseSources parses the router's -kv-events / -kv-replay flag values:
// "POD=tcp://host:port[,POD=tcp://...]". replay may be empty; a pod in
// replay must be in events.
func ParseSources(events, replay string) ([]Source, error) {
	parse := func(flag, s string) ([][2]string, error) {
		var out [][2]string
		seen := map[string]bool{}
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			pod, ep, ok := strings.Cut(part, "=")
			if !ok || pod == "" || ep == "" {
				return nil, fmt.Errorf("%w: %s %q: want POD=tcp://host:port", ErrConfig, flag, part)
			}
			if !strings.HasPrefix(ep, "tcp://") && !strings.HasPrefix(ep, "ipc://") {
				return nil, fmt.Errorf("%w: %s %q: want a tcp:// or ipc:// endpoint", ErrConfig, flag, part)
			}
			if seen[pod] {
				return nil, fmt.Errorf("%w: %s names pod %q twice", ErrConfig, flag, pod)
			}
			seen[pod] = true
			out = append(out, [2]string{pod, ep})
		}
		return out, nil
	}
	ev, err := parse("-kv-events", events)
	if err != nil {
		return nil, err
	}
	rp, err := parse("-kv-replay", replay)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	var out []Source
	for _, e := range ev {
		idx[e[0]] = len(out)
		out = append(out, Source{Pod: e[0], Endpoint: e[1]})
	}
	for _, r := range rp {
		i, ok := idx[r[0]]
		if !ok {
			return nil, fmt.Errorf("%w: -kv-replay names pod %q, which -kv-events does not", ErrConfig, r[0])
		}
		out[i].Replay = r[1]
	}
	return out, nil
}

// PodStats is what a Subscriber knows about one pod.
type PodStats struct {
	Pod       string
	Connected bool
	// LastSeq is the last sequence number applied (-1: none yet).
	LastSeq         int64
	Batches, Events uint64
	// Malformed payloads (and frames) skipped; Unknown events of a type
	// this version does not know, skipped.
	Malformed, Unknown uint64
	// Gaps seen; Replayed of them repaired over the replay socket;
	// Unrecovered the others (no replay socket, it failed, or its buffer
	// no longer held the missing batches).
	Gaps, Replayed, Unrecovered uint64
	// Duplicates skipped (seen again during a replay).
	Duplicates uint64
	// Connects made; Restarts detected (the sequence went back on a new
	// connection); Clears (AllBlocksCleared, restart, silence, idle).
	Connects, Restarts, Clears uint64
	LastEvent                  time.Time
	// BlockSize is the block_size of the pod's last BlockStored (0: none
	// yet): a router hashing at another size finds none of its blocks.
	BlockSize int
}

// Subscriber follows the KV events of N pods into an Index.
type Subscriber struct {
	cfg  SubscriberConfig
	pods []*podSub

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type podSub struct {
	src Source
	cfg *SubscriberConfig
	ix  *Index
	log *slog.Logger
	rng *rand.Rand
	dec *Decoder

	// Owned by the pod's goroutine.
	last      int64 // -1: nothing applied
	connGen   uint64
	appliedAt uint64 // connGen of the last applied batch
	cleared   bool   // index cleared for silence/idle and nothing new since

	mu sync.Mutex
	st PodStats
}

// NewSubscriber validates cfg; Start runs it.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	if cfg.Index == nil {
		return nil, fmt.Errorf("%w: no index", ErrConfig)
	}
	cfg.ensureDefaults()
	s := &Subscriber{cfg: cfg}
	seen := map[string]bool{}
	for i, src := range cfg.Sources {
		if src.Pod == "" || src.Endpoint == "" {
			return nil, fmt.Errorf("%w: source %d needs a pod name and an endpoint", ErrConfig, i)
		}
		if seen[src.Pod] {
			return nil, fmt.Errorf("%w: pod %q twice", ErrConfig, src.Pod)
		}
		seen[src.Pod] = true
		p := &podSub{src: src, cfg: &s.cfg, ix: cfg.Index, log: cfg.Logger.With("pod", src.Pod),
			rng: rand.New(rand.NewSource(cfg.Seed + int64(i))), dec: NewDecoder(), last: -1}
		p.st = PodStats{Pod: src.Pod, LastSeq: -1}
		cfg.Index.AddPod(src.Pod)
		s.pods = append(s.pods, p)
	}
	return s, nil
}

// Start follows every pod in its own goroutine until ctx ends or Close.
func (s *Subscriber) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	for _, p := range s.pods {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p.run(ctx)
		}()
	}
}

// Close stops the subscriber and waits for its goroutines. Safe to call
// twice (and without Start).
func (s *Subscriber) Close() error {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
	})
	s.wg.Wait()
	return nil
}

// Stats returns a snapshot per pod, sorted by name.
func (s *Subscriber) Stats() []PodStats {
	out := make([]PodStats, 0, len(s.pods))
	for _, p := range s.pods {
		p.mu.Lock()
		out = append(out, p.st)
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

func (p *podSub) stat(f func(st *PodStats)) {
	p.mu.Lock()
	f(&p.st)
	p.mu.Unlock()
}

// zmqLogger keeps go-zeromq's own log lines out of the process's output.
var zmqLogger = log.New(io.Discard, "", 0)

func (p *podSub) sockOpts() []zmq4.Option {
	return []zmq4.Option{zmq4.WithDialerMaxRetries(0), zmq4.WithDialerTimeout(p.cfg.DialTimeout),
		zmq4.WithLogger(zmqLogger), zmq4.WithAutomaticReconnect(false)}
}

type recvd struct {
	msg zmq4.Msg
	err error
}

// run is the pod's loop: connect, (replay), read until the connection
// fails, back off, again. The index is cleared when the pod stays
// unreachable past SilenceTimeout.
func (p *podSub) run(ctx context.Context) {
	backoff := p.cfg.BackoffMin
	downSince := time.Now()
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		sock := zmq4.NewSub(sctx, p.sockOpts()...)
		err := sock.SetOption(zmq4.OptionSubscribe, p.src.Topic)
		if err == nil {
			err = sock.Dial(p.src.Endpoint)
		}
		if err != nil {
			cancel()
			_ = sock.Close()
			p.checkSilence(downSince)
			p.log.Debug("kv events: connect failed", "endpoint", p.src.Endpoint, "err", err)
			// Full jitter: a fleet of routers does not redial in step.
			wait := time.Duration(p.rng.Int63n(int64(backoff))) + p.cfg.BackoffMin/2
			backoff = min(backoff*2, p.cfg.BackoffMax)
			if !sleepCtx(ctx, wait) {
				return
			}
			continue
		}
		backoff = p.cfg.BackoffMin
		p.connGen++
		p.stat(func(st *PodStats) { st.Connected = true; st.Connects++ })
		p.log.Info("kv events: connected", "endpoint", p.src.Endpoint)
		if p.src.Replay != "" {
			// Catch up from where we are (from 0 on the first connect:
			// what the pod's replay buffer still holds).
			p.replay(ctx, p.last+1)
		}
		p.read(sctx, sock)
		cancel()
		_ = sock.Close()
		p.stat(func(st *PodStats) { st.Connected = false })
		downSince = time.Now()
		p.log.Info("kv events: disconnected", "endpoint", p.src.Endpoint)
	}
}

// read handles messages until the connection fails or ctx ends.
func (p *podSub) read(ctx context.Context, sock zmq4.Socket) {
	ch := make(chan recvd, 64)
	go func() {
		for {
			m, err := sock.Recv()
			select {
			case ch <- recvd{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var idle *time.Timer
	var idleC <-chan time.Time
	if p.cfg.IdleTimeout > 0 {
		idle = time.NewTimer(p.cfg.IdleTimeout)
		defer idle.Stop()
		idleC = idle.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-idleC:
			p.clear("idle")
			idle.Reset(p.cfg.IdleTimeout)
		case r := <-ch:
			if r.err != nil {
				return
			}
			if idle != nil {
				idle.Reset(p.cfg.IdleTimeout)
			}
			p.onLive(ctx, r.msg)
		}
	}
}

// onLive handles one PUB message: [topic, seq (8 bytes big-endian), payload].
func (p *podSub) onLive(ctx context.Context, m zmq4.Msg) {
	if len(m.Frames) != 3 || len(m.Frames[1]) != 8 {
		p.stat(func(st *PodStats) { st.Malformed++ })
		return
	}
	seq := int64(binary.BigEndian.Uint64(m.Frames[1]))
	if p.last >= 0 && seq > p.last+1 {
		p.stat(func(st *PodStats) { st.Gaps++ })
		hole := true
		if p.src.Replay != "" {
			hole = p.replay(ctx, p.last+1)
		}
		if !hole && p.last+1 >= seq {
			p.stat(func(st *PodStats) { st.Replayed++ })
		} else {
			p.stat(func(st *PodStats) { st.Unrecovered++ })
			p.log.Warn("kv events: sequence gap not repaired", "from", p.last+1, "to", seq-1)
			p.last = seq - 1 // go on from here; the index is a hint
		}
	}
	p.apply(seq, m.Frames[2])
}

// apply applies one batch with sequence number seq, detecting duplicates
// and restarts.
func (p *podSub) apply(seq int64, payload []byte) {
	if seq < 0 {
		p.stat(func(st *PodStats) { st.Malformed++ })
		return
	}
	if p.last >= 0 && seq <= p.last {
		if p.appliedAt == p.connGen {
			p.stat(func(st *PodStats) { st.Duplicates++ })
			return
		}
		// The first batch of a new connection is not newer than what we
		// hold: the pod restarted and numbers from 0 again. Its cache
		// restarted with it.
		p.ix.Clear(p.src.Pod)
		p.stat(func(st *PodStats) { st.Restarts++; st.Clears++ })
		p.log.Info("kv events: pod restarted (sequence went back)", "last", p.last, "seq", seq)
	}
	p.last, p.appliedAt, p.cleared = seq, p.connGen, false
	b, unknown, err := p.dec.Decode(payload)
	if err != nil {
		p.stat(func(st *PodStats) { st.Malformed++; st.LastSeq = seq })
		p.log.Debug("kv events: malformed payload skipped", "seq", seq, "err", err)
		return
	}
	cleared := p.ix.Apply(p.src.Pod, b)
	now := time.Now()
	bs := 0
	for i := range b.Events {
		if b.Events[i].Kind == BlockStored && b.Events[i].BlockSize > 0 {
			bs = b.Events[i].BlockSize
		}
	}
	p.stat(func(st *PodStats) {
		st.LastSeq = seq
		st.Batches++
		st.Events += uint64(len(b.Events))
		st.Unknown += uint64(unknown)
		st.LastEvent = now
		if cleared {
			st.Clears++
		}
		if bs > 0 {
			st.BlockSize = bs
		}
	})
}

// replay asks the pod's ROUTER socket for every batch from seq from on and
// applies them; it ends at the -1 end marker, an error or ReplayTimeout.
// It reports whether batches were missing at the start of the replay (its
// buffer no longer reached back to from).
func (p *podSub) replay(ctx context.Context, from int64) (hole bool) {
	rctx, cancel := context.WithTimeout(ctx, p.cfg.ReplayTimeout)
	defer cancel()
	d := zmq4.NewDealer(rctx, p.sockOpts()...)
	defer d.Close()
	if err := d.Dial(p.src.Replay); err != nil {
		p.log.Debug("kv events: replay connect failed", "endpoint", p.src.Replay, "err", err)
		return false
	}
	var start [8]byte
	binary.BigEndian.PutUint64(start[:], uint64(from))
	if err := d.SendMulti(zmq4.NewMsgFrom([]byte{}, start[:])); err != nil {
		p.log.Debug("kv events: replay request failed", "err", err)
		return false
	}
	for {
		m, err := d.Recv()
		if err != nil {
			p.log.Debug("kv events: replay ended early", "err", err)
			return hole
		}
		fr := m.Frames
		if len(fr) > 0 && len(fr[0]) == 0 {
			fr = fr[1:] // the ROUTER's empty delimiter
		}
		if len(fr) != 2 || len(fr[0]) != 8 {
			p.stat(func(st *PodStats) { st.Malformed++ })
			continue
		}
		seq := int64(binary.BigEndian.Uint64(fr[0]))
		if seq == -1 {
			return hole
		}
		if p.last >= 0 && seq > p.last+1 {
			// The replay buffer no longer reaches back to what we miss.
			p.log.Warn("kv events: replay buffer starts past the gap", "want", p.last+1, "got", seq)
			p.last = seq - 1
			hole = true
		}
		p.apply(seq, fr[1])
	}
}

func (p *podSub) checkSilence(downSince time.Time) {
	if p.cfg.SilenceTimeout > 0 && !p.cleared && time.Since(downSince) >= p.cfg.SilenceTimeout {
		p.clear("silent")
	}
}

func (p *podSub) clear(why string) {
	if p.cleared {
		return
	}
	p.cleared = true
	p.ix.Clear(p.src.Pod)
	p.stat(func(st *PodStats) { st.Clears++ })
	p.log.Info("kv events: pod cleared", "why", why)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
