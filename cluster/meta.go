package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/stratacache/stratacache/tiers"
)

// maxNameLen bounds node names, tier names and addresses in gossip.
const maxNameLen = 128

// maxMetaTiers bounds the tiers a node advertises.
const maxMetaTiers = 8

// metaVersion is the first byte of an encoded NodeMeta.
const metaVersion = 1

// ErrBadMeta: gossiped node metadata that does not decode.
var ErrBadMeta = errors.New("cluster: bad node metadata")

// TierUse is one local tier's size as advertised to the cluster.
type TierUse struct {
	Name          string
	Kind          tiers.Kind
	CapacityBytes int64
	FreeBytes     int64
}

// NodeMeta is what a node tells the cluster about itself in memberlist's
// node metadata (at most 512 bytes encoded).
type NodeMeta struct {
	Epoch    uint64
	PeerAddr string
	// Pool is the name of the tier peers demote into (index into Tiers).
	Pool  int
	Tiers []TierUse
	// Load is the node's requests in flight (approximate).
	Load uint32
	// NativeAddr and RESPAddr are the node's client ports (host:port), so
	// that clients following the cluster can route to it; empty until the
	// node publishes them (SetClientAddrs).
	NativeAddr, RESPAddr string
}

// PoolFree is the free bytes of the node's pool tier (0 when it has none).
func (m *NodeMeta) PoolFree() int64 {
	if m.Pool < 0 || m.Pool >= len(m.Tiers) {
		return 0
	}
	return m.Tiers[m.Pool].FreeBytes
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendMeta encodes m: version, uvarint epoch, peer address, load, pool
// index, then per tier kind, name, capacity and free bytes (uvarints), then
// the native and RESP client addresses. The addresses were added after
// version 1 shipped: they trail the tiers, and a decoder that predates them
// ignores trailing bytes, so the version stays 1.
func appendMeta(b []byte, m *NodeMeta) []byte {
	b = append(b, metaVersion)
	b = binary.AppendUvarint(b, m.Epoch)
	b = appendString(b, m.PeerAddr)
	b = binary.AppendUvarint(b, uint64(m.Load))
	b = binary.AppendUvarint(b, uint64(m.Pool+1))
	n := min(len(m.Tiers), maxMetaTiers)
	b = append(b, byte(n))
	for _, t := range m.Tiers[:n] {
		b = append(b, byte(t.Kind))
		b = appendString(b, t.Name)
		b = binary.AppendUvarint(b, uint64(max(t.CapacityBytes, 0)))
		b = binary.AppendUvarint(b, uint64(max(t.FreeBytes, 0)))
	}
	b = appendString(b, m.NativeAddr)
	b = appendString(b, m.RESPAddr)
	return b
}

// decoder reads the uvarint/string layouts of meta and deltas; the first
// error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or bad %s", what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) u64(what string) uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail(what)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) str(what string) string {
	n := d.uvarint(what)
	if d.err != nil || n > maxNameLen || n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n]) // copies: the caller's buffer may be reused
	d.b = d.b[n:]
	return s
}

// decodeMeta decodes appendMeta's layout; errors wrap ErrBadMeta.
func decodeMeta(b []byte) (NodeMeta, error) {
	d := decoder{b: b}
	var m NodeMeta
	if v := d.byte1("version"); d.err == nil && v != metaVersion {
		return m, fmt.Errorf("%w: version %d", ErrBadMeta, v)
	}
	m.Epoch = d.uvarint("epoch")
	m.PeerAddr = d.str("peer address")
	load := d.uvarint("load")
	m.Load = uint32(min(load, 1<<32-1))
	m.Pool = int(min(d.uvarint("pool"), maxMetaTiers+1)) - 1
	n := int(d.byte1("tier count"))
	if n > maxMetaTiers {
		return m, fmt.Errorf("%w: %d tiers", ErrBadMeta, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var t TierUse
		t.Kind = tiers.Kind(d.byte1("tier kind"))
		t.Name = d.str("tier name")
		t.CapacityBytes = int64(min(d.uvarint("capacity"), 1<<62))
		t.FreeBytes = int64(min(d.uvarint("free"), 1<<62))
		m.Tiers = append(m.Tiers, t)
	}
	if d.err == nil && len(d.b) > 0 { // absent in metadata from older nodes
		m.NativeAddr = d.str("native address")
		m.RESPAddr = d.str("resp address")
	}
	if d.err != nil {
		return NodeMeta{}, fmt.Errorf("%w: %v", ErrBadMeta, d.err)
	}
	if m.Pool >= len(m.Tiers) {
		m.Pool = -1
	}
	return m, nil
}
