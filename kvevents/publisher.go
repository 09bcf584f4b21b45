package kvevents

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
)

// PublisherConfig configures a Publisher: the same sockets and framing as
// vLLM's ZmqEventPublisher (vllm/distributed/kv_events.py).
type PublisherConfig struct {
	// Endpoint is the PUB socket to bind, tcp://host:port (port 0: any).
	// "*" as the host binds every interface, as in vLLM's tcp://*:5557.
	Endpoint string
	// ReplayEndpoint is the ROUTER socket to bind for replay requests
	// ("": none).
	ReplayEndpoint string
	// Topic is sent as the first frame of every message.
	Topic string
	// BufferSteps is how many past batches replay can serve (default
	// 10,000, vLLM's default).
	BufferSteps int
	// HWM is the PUB socket's queue bound in messages (default 100,000,
	// vLLM's default); past it messages are dropped, which subscribers see
	// as a gap and repair by replay.
	HWM int
	// Encoding of the payloads (default EncodingMap, today's vLLM).
	Encoding Encoding
	// DataParallelRank is stamped on every batch when HasDPRank.
	DataParallelRank int64
	HasDPRank        bool
}

type replayEntry struct {
	seq     int64
	payload []byte
}

// Publisher publishes EventBatches: multipart (topic, 8-byte big-endian
// sequence number, msgpack payload) on a PUB socket, and serves replay
// requests (an 8-byte big-endian start sequence) on a ROUTER socket with
// (seq, payload) frames ended by sequence -1 and an empty payload. Safe
// for concurrent use.
type Publisher struct {
	cfg    PublisherConfig
	ctx    context.Context
	cancel context.CancelFunc
	pub    zmq4.Socket
	router zmq4.Socket
	wg     sync.WaitGroup

	mu   sync.Mutex
	seq  int64
	ring []replayEntry // circular, cap BufferSteps
	head int
	buf  []byte
	sent uint64

	closeOnce sync.Once
}

// bindAddr maps "*" to every interface, for zmq4's net.Listen.
func bindAddr(ep string) string {
	return strings.Replace(ep, "://*:", "://0.0.0.0:", 1)
}

// NewPublisher binds the sockets.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("%w: publisher endpoint is empty", ErrConfig)
	}
	if cfg.BufferSteps <= 0 {
		cfg.BufferSteps = 10_000
	}
	if cfg.HWM <= 0 {
		cfg.HWM = 100_000
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{cfg: cfg, ctx: ctx, cancel: cancel}
	p.pub = zmq4.NewPub(ctx, zmq4.WithLogger(zmqLogger))
	if err := p.pub.SetOption(zmq4.OptionHWM, cfg.HWM); err != nil {
		cancel()
		return nil, fmt.Errorf("kvevents: pub hwm: %w", err)
	}
	if err := p.pub.Listen(bindAddr(cfg.Endpoint)); err != nil {
		cancel()
		_ = p.pub.Close()
		return nil, fmt.Errorf("kvevents: bind %s: %w", cfg.Endpoint, err)
	}
	if cfg.ReplayEndpoint != "" {
		p.router = zmq4.NewRouter(ctx, zmq4.WithLogger(zmqLogger))
		if err := p.router.Listen(bindAddr(cfg.ReplayEndpoint)); err != nil {
			cancel()
			_ = p.pub.Close()
			_ = p.router.Close()
			return nil, fmt.Errorf("kvevents: bind replay %s: %w", cfg.ReplayEndpoint, err)
		}
		p.wg.Add(1)
		go p.serveReplay()
	}
	return p, nil
}

func endpointOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	return "tcp://" + a.String()
}

// Endpoint is the bound PUB address (tcp://host:port).
func (p *Publisher) Endpoint() string { return endpointOf(p.pub.Addr()) }

// ReplayEndpoint is the bound ROUTER address ("" without replay).
func (p *Publisher) ReplayEndpoint() string {
	if p.router == nil {
		return ""
	}
	return endpointOf(p.router.Addr())
}

// Publish sends one batch (stamped with the time now if b.TS is 0) and
// returns its sequence number.
func (p *Publisher) Publish(b *Batch) (int64, error) {
	return p.publish(b, true)
}

// publish assigns the next sequence number and keeps the batch for replay;
// with send false it does not reach the PUB socket (tests: a lost message).
func (p *Publisher) publish(b *Batch, send bool) (int64, error) {
	if b.TS == 0 {
		b.TS = float64(time.Now().UnixNano()) / 1e9
	}
	if p.cfg.HasDPRank && !b.HasDPRank {
		b.DPRank, b.HasDPRank = p.cfg.DataParallelRank, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	payload, err := Encode(p.buf[:0], b, p.cfg.Encoding)
	if err != nil {
		return 0, err
	}
	p.buf = payload[:0]
	payload = append([]byte(nil), payload...) // owned by the ring and the socket
	seq := p.seq
	p.seq++
	if len(p.ring) < p.cfg.BufferSteps {
		p.ring = append(p.ring, replayEntry{seq, payload})
	} else {
		p.ring[p.head] = replayEntry{seq, payload}
		p.head = (p.head + 1) % len(p.ring)
	}
	if !send {
		return seq, nil
	}
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], uint64(seq))
	// The send is under p.mu so that messages leave in sequence order.
	if err := p.pub.SendMulti(zmq4.NewMsgFrom([]byte(p.cfg.Topic), sb[:], payload)); err != nil {
		return seq, fmt.Errorf("kvevents: publish: %w", err)
	}
	p.sent++
	return seq, nil
}

// Seq is the sequence number the next batch gets.
func (p *Publisher) Seq() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// since returns the buffered batches with seq >= from, oldest first.
func (p *Publisher) since(from int64) []replayEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []replayEntry
	n := len(p.ring)
	for i := 0; i < n; i++ {
		e := p.ring[(p.head+i)%n]
		if e.seq >= from {
			out = append(out, e)
		}
	}
	return out
}

var endSeq = func() []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ^uint64(0)) // -1
	return b[:]
}()

// serveReplay answers replay requests: [identity, "", start] in,
// [identity, "", seq, payload]... then [identity, "", -1, ""] out.
func (p *Publisher) serveReplay() {
	defer p.wg.Done()
	for {
		m, err := p.router.Recv()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			continue // a peer went away mid-request
		}
		if len(m.Frames) != 3 || len(m.Frames[2]) != 8 {
			continue // not a replay request (vLLM logs and ignores these too)
		}
		id := m.Frames[0]
		from := int64(binary.BigEndian.Uint64(m.Frames[2]))
		for _, e := range p.since(from) {
			var sb [8]byte
			binary.BigEndian.PutUint64(sb[:], uint64(e.seq))
			if err := p.router.SendMulti(zmq4.NewMsgFrom(id, []byte{}, sb[:], e.payload)); err != nil {
				break
			}
		}
		_ = p.router.SendMulti(zmq4.NewMsgFrom(id, []byte{}, endSeq, []byte{}))
	}
}

// Close unbinds the sockets. Safe to call twice.
func (p *Publisher) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.cancel()
		err = p.pub.Close()
		if p.router != nil {
			if e := p.router.Close(); err == nil {
				err = e
			}
		}
		p.wg.Wait()
	})
	return err
}
