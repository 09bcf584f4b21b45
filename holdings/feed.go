package holdings

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed: a feed or summary payload that does not decode.
var ErrMalformed = errors.New("holdings: malformed payload")

// Change is one record of a node's change feed: the node now holds Hash in
// a tier of medium Kind (a tiers.Kind byte: 1 memory, 2 CXL, 3 disk), or no
// longer holds it (Del).
type Change struct {
	Hash uint64
	Kind uint8
	Del  bool
}

// Feed is one reply of a node's change feed.
type Feed struct {
	// Epoch is the node's incarnation: sequence numbers restart with it.
	Epoch uint64
	// Seq is the sequence number the subscriber is at once it applied
	// Changes (the node's last change).
	Seq uint64
	// Resync: Changes are the node's whole holding set (puts only), to
	// replace what the subscriber had; otherwise they are the changes
	// after the subscriber's last sequence number, in order.
	Resync  bool
	Changes []Change
	// Stream marks a frame of a held-open stream (OP_PEER_SUBSCRIBE with
	// attrs["stream"]): From is then on the wire, the sequence number the
	// Changes follow (Seq - From = len(Changes) unless Resync), so that a
	// subscriber sees a gap (From past what it applied) instead of
	// trusting that nothing was lost. A poll's reply has no From: it
	// answers the since the subscriber sent.
	Stream bool
	From   uint64
}

// Layout (little-endian hashes, unsigned varints elsewhere):
//
//	version(1)=1 flags(1: bit 0 resync, bit 1 stream) epoch seq [from if stream] count
//	record = op(1: 1 put, 2 del) hash(8) [kind(1) if put]
//
// Bit 1 came with streams; a poll's reply never sets it, so decoders that
// predate it still read every reply they can ask for.
const feedVersion = 1

// AppendFeed appends f's encoding to b.
func AppendFeed(b []byte, f *Feed) []byte {
	var flags byte
	if f.Resync {
		flags |= 1
	}
	if f.Stream {
		flags |= 2
	}
	b = append(b, feedVersion, flags)
	b = binary.AppendUvarint(b, f.Epoch)
	b = binary.AppendUvarint(b, f.Seq)
	if f.Stream {
		b = binary.AppendUvarint(b, f.From)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Changes)))
	for _, c := range f.Changes {
		if c.Del {
			b = append(b, 2)
			b = binary.LittleEndian.AppendUint64(b, c.Hash)
			continue
		}
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint64(b, c.Hash)
		b = append(b, c.Kind)
	}
	return b
}

// DecodeFeed decodes a feed reply into f, reusing f.Changes' array.
func DecodeFeed(b []byte, f *Feed) error {
	bad := func(what string) error { return fmt.Errorf("%w: feed %s", ErrMalformed, what) }
	if len(b) < 2 || b[0] != feedVersion || b[1]&^3 != 0 {
		return bad("version or flags")
	}
	f.Resync, f.Stream = b[1]&1 != 0, b[1]&2 != 0
	b = b[2:]
	var vals [4]uint64
	n := 3
	if f.Stream {
		n = 4
	}
	for i := range vals[:n] {
		v, l := binary.Uvarint(b)
		if l <= 0 {
			return bad("header")
		}
		vals[i] = v
		b = b[l:]
	}
	f.Epoch, f.Seq, f.From = vals[0], vals[1], 0
	count := vals[n-1]
	if f.Stream {
		f.From = vals[2]
		if f.From > f.Seq || (!f.Resync && f.Seq-f.From != count) {
			return bad("from")
		}
	}
	if count > uint64(len(b))/9 {
		return bad("count")
	}
	f.Changes = f.Changes[:0]
	for i := uint64(0); i < count; i++ {
		if len(b) < 9 {
			return bad("record")
		}
		c := Change{Hash: binary.LittleEndian.Uint64(b[1:9])}
		switch b[0] {
		case 1:
			if len(b) < 10 {
				return bad("record")
			}
			c.Kind = b[9]
			b = b[10:]
		case 2:
			if f.Resync {
				return bad("delete in a resync")
			}
			c.Del = true
			b = b[9:]
		default:
			return bad("record op")
		}
		f.Changes = append(f.Changes, c)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return nil
}
