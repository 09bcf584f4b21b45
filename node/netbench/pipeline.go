package netbench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/messages/frame"
	"github.com/stratacache/stratacache/node/native"
)

// Pipeliner is a Conn that can send a batch of requests in one write and
// then read their replies (Case.Pipeline > 1): redis-benchmark's -P.
type Pipeliner interface {
	SetBatch(keys []string, value []byte) error
	GetBatch(keys []string, buf []byte) error
}

// SetBatch sends one SET per key in one write, then reads the replies.
func (r *respConn) SetBatch(keys []string, value []byte) error {
	r.hdr = r.hdr[:0]
	for _, k := range keys {
		r.hdr = append(r.hdr, "*3\r\n$3\r\nSET\r\n$"...)
		r.hdr = strconv.AppendInt(r.hdr, int64(len(k)), 10)
		r.hdr = append(r.hdr, "\r\n"...)
		r.hdr = append(r.hdr, k...)
		r.hdr = append(r.hdr, "\r\n$"...)
		r.hdr = strconv.AppendInt(r.hdr, int64(len(value)), 10)
		r.hdr = append(r.hdr, "\r\n"...)
		r.hdr = append(r.hdr, value...)
		r.hdr = append(r.hdr, "\r\n"...)
	}
	if _, err := r.nc.Write(r.hdr); err != nil {
		return err
	}
	for range keys {
		if err := r.status(); err != nil {
			return err
		}
	}
	return nil
}

// GetBatch sends one GET per key in one write, then reads each value into
// buf (which holds one).
func (r *respConn) GetBatch(keys []string, buf []byte) error {
	r.hdr = r.hdr[:0]
	for _, k := range keys {
		r.hdr = append(r.hdr, "*2\r\n$3\r\nGET\r\n$"...)
		r.hdr = strconv.AppendInt(r.hdr, int64(len(k)), 10)
		r.hdr = append(r.hdr, "\r\n"...)
		r.hdr = append(r.hdr, k...)
		r.hdr = append(r.hdr, "\r\n"...)
	}
	if _, err := r.nc.Write(r.hdr); err != nil {
		return err
	}
	for range keys {
		if _, err := r.readBulk(buf); err != nil {
			return err
		}
	}
	return nil
}

// pipeConn is the native protocol pipelined by hand over one connection:
// a batch of frames in one write, then their replies in order (the
// native.Client pipelines only requests from several goroutines).
type pipeConn struct {
	nc   net.Conn
	br   *bufio.Reader
	fr   *frame.Reader
	out  []byte
	hdr  messages.FrameHeader
	next uint64
	one  [1]string
}

func dialPipe(addr, token string) (*pipeConn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	p := &pipeConn{nc: nc, br: br, fr: frame.NewReader(br, frame.Limits{MaxHeaderBytes: 1 << 20, MaxPayloadBytes: 1 << 30})}
	hello := &messages.FrameHeader{Op: messages.Op_OP_HELLO, AuthToken: []byte(token), RequestId: 1,
		Attrs: map[string]string{"version": strconv.Itoa(int(native.Version)), "client": "bench-net"}}
	p.next = 2
	if p.out, err = frame.AppendHead(p.out[:0], hello, 0); err == nil {
		_, err = nc.Write(p.out)
	}
	if err == nil {
		_, err = p.reply(nil)
	}
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("netbench: native hello: %w", err)
	}
	return p, nil
}

// reply reads one reply; its payload goes to buf (nil: none expected).
func (p *pipeConn) reply(buf []byte) (int, error) {
	pre, err := p.fr.Next(&p.hdr)
	if err != nil {
		return 0, err
	}
	if p.hdr.GetOp() == messages.Op_OP_ERROR {
		return 0, fmt.Errorf("%w: %s: %s", errReply, p.hdr.GetErrorCode(), p.hdr.GetError())
	}
	if pre.PayloadLen > uint64(len(buf)) {
		return 0, fmt.Errorf("netbench: reply of %d bytes exceeds the buffer", pre.PayloadLen)
	}
	return int(pre.PayloadLen), p.fr.ReadPayload(buf[:pre.PayloadLen])
}

func (p *pipeConn) batch(op messages.Op, keys []string, value []byte) error {
	p.out = p.out[:0]
	for _, k := range keys {
		id, err := artifact.NewID(artifact.NamespaceBlob, []byte(k))
		if err != nil {
			return err
		}
		h := &messages.FrameHeader{Op: op, RequestId: p.next, Ids: []*messages.ArtifactID{messages.IDToProto(id)}}
		p.next++
		n := uint64(0)
		if op == messages.Op_OP_PUT {
			n = uint64(len(value))
			h.PayloadLength = n
		}
		if p.out, err = frame.AppendHead(p.out, h, n); err != nil {
			return err
		}
		if op == messages.Op_OP_PUT {
			p.out = append(p.out, value...)
		}
	}
	_, err := p.nc.Write(p.out)
	return err
}

func (p *pipeConn) SetBatch(keys []string, value []byte) error {
	if err := p.batch(messages.Op_OP_PUT, keys, value); err != nil {
		return err
	}
	for range keys {
		if _, err := p.reply(nil); err != nil {
			return err
		}
	}
	return nil
}

func (p *pipeConn) GetBatch(keys []string, buf []byte) error {
	if err := p.batch(messages.Op_OP_GET, keys, nil); err != nil {
		return err
	}
	for range keys {
		n, err := p.reply(buf)
		if err != nil {
			return err
		}
		if n != len(buf) {
			return fmt.Errorf("netbench: got %d bytes, want %d", n, len(buf))
		}
	}
	return nil
}

func (p *pipeConn) Set(key string, value []byte) error {
	p.one[0] = key
	return p.SetBatch(p.one[:], value)
}

func (p *pipeConn) Get(key string, buf []byte) (int, error) {
	p.one[0] = key
	if err := p.batch(messages.Op_OP_GET, p.one[:], nil); err != nil {
		return 0, err
	}
	return p.reply(buf)
}

func (p *pipeConn) Close() error { return p.nc.Close() }

var errNoPipeline = errors.New("netbench: this target has no pipelined client (memcached, raw)")

var _ io.Closer = (*pipeConn)(nil)
