package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/stratacache/stratacache/tiers"
)

// Payloads of the directory's peer ops (besides the deltas of delta.go):
//
//	lookup request = count(uvarint) hash(8, little-endian)*count
//	lookup reply   = (holders(uvarint) (node(str) epoch(uvarint) kind(1)
//	                 ver(uvarint))*holders)*count, in request order
//	digest request = owner(str) epoch(uvarint) asOf(uvarint) buckets(uvarint)
//	                 u64*buckets
//	digest reply   = count(uvarint) bucket(uvarint)*count: the buckets whose
//	                 digest differs at the replica
//
// A lookup reply costs ~1 byte for an artifact nobody holds and ~15 bytes
// per holder (names of ~4 bytes).

// maxLookupIDs bounds one lookup request.
const maxLookupIDs = 1 << 16

func appendLookupReq(b []byte, hashes []uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(hashes)))
	for _, h := range hashes {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	return b
}

func decodeLookupReq(b []byte, dst []uint64) ([]uint64, error) {
	d := decoder{b: b}
	n := d.uvarint("count")
	if d.err != nil || n > maxLookupIDs || n*8 != uint64(len(d.b)) {
		return dst, fmt.Errorf("%w: lookup of %d ids in %d bytes", ErrBadDelta, n, len(b))
	}
	for i := uint64(0); i < n; i++ {
		dst = append(dst, d.u64("hash"))
	}
	return dst, nil
}

func appendHolders(b []byte, hs []Owner) []byte {
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = appendString(b, h.Node)
		b = binary.AppendUvarint(b, h.Epoch)
		b = append(b, byte(h.Kind))
		b = binary.AppendUvarint(b, h.Ver)
	}
	return b
}

// decodeLookupReply fills out[i] with the holders of the i-th hash asked.
func decodeLookupReply(b []byte, out [][]Owner) error {
	d := decoder{b: b}
	for i := range out {
		k := d.uvarint("holder count")
		if d.err == nil && k > uint64(len(d.b)) {
			return fmt.Errorf("%w: %d holders in %d bytes", ErrBadDelta, k, len(d.b))
		}
		var hs []Owner
		for j := uint64(0); j < k && d.err == nil; j++ {
			var o Owner
			o.Node = d.str("node")
			o.Epoch = d.uvarint("epoch")
			o.Kind = tiers.Kind(d.byte1("kind"))
			o.Ver = d.uvarint("version")
			hs = append(hs, o)
		}
		out[i] = hs
	}
	if d.err != nil {
		return fmt.Errorf("%w: lookup reply: %v", ErrBadDelta, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: lookup reply: %d trailing bytes", ErrBadDelta, len(d.b))
	}
	return nil
}

// digestBuckets is how many ranges of the hash space a digest compares.
const digestBuckets = 64

func bucketOf(hash uint64) int { return int(hash >> (64 - 6)) }

// recDigest is one record's share of its bucket's digest (the buckets xor
// them, so adding and removing are the same operation).
func recDigest(r Record) uint64 {
	x := r.Hash ^ (r.Ver * 0x9e3779b97f4a7c15) ^ uint64(r.Kind)<<56
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

func appendDigest(b []byte, owner string, epoch, asOf uint64, dg *[digestBuckets]uint64) []byte {
	b = appendString(b, owner)
	b = binary.AppendUvarint(b, epoch)
	b = binary.AppendUvarint(b, asOf)
	b = binary.AppendUvarint(b, digestBuckets)
	for _, x := range dg {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

func decodeDigest(b []byte, dg *[digestBuckets]uint64) (owner string, epoch, asOf uint64, err error) {
	d := decoder{b: b}
	owner = d.str("owner")
	epoch = d.uvarint("epoch")
	asOf = d.uvarint("as-of")
	if n := d.uvarint("buckets"); d.err == nil && n != digestBuckets {
		return "", 0, 0, fmt.Errorf("%w: digest of %d buckets", ErrBadDelta, n)
	}
	for i := range dg {
		dg[i] = d.u64("bucket")
	}
	if d.err != nil || len(d.b) != 0 || owner == "" {
		return "", 0, 0, fmt.Errorf("%w: bad digest", ErrBadDelta)
	}
	return owner, epoch, asOf, nil
}

func appendBuckets(b []byte, buckets []int) []byte {
	b = binary.AppendUvarint(b, uint64(len(buckets)))
	for _, x := range buckets {
		b = binary.AppendUvarint(b, uint64(x))
	}
	return b
}

func decodeBuckets(b []byte) ([]int, error) {
	d := decoder{b: b}
	n := d.uvarint("count")
	if d.err != nil || n > digestBuckets {
		return nil, fmt.Errorf("%w: bucket list", ErrBadDelta)
	}
	out := make([]int, 0, n)
	for i := uint64(0); i < n; i++ {
		x := d.uvarint("bucket")
		if d.err != nil || x >= digestBuckets {
			return nil, fmt.Errorf("%w: bucket list", ErrBadDelta)
		}
		out = append(out, int(x))
	}
	return out, nil
}
