package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/stratacache/stratacache/tiers"
)

// Directory deltas: the compact form in which ownership changes travel in
// memberlist broadcasts, push/pull state and OP_PEER_DIR_SYNC replies.
//
//	delta   = version(1) flags(1) owner(str) epoch(uvarint) base(uvarint)
//	          [asOf(uvarint) if snapshot] [bucket(uvarint) if bucket]
//	          count(uvarint) record*count
//	record  = op(1: 1 put, 2 del) hash(8, little-endian) [kind(1) if put]
//	          ver-base(uvarint)
//	state   = stateVersion(1) count(uvarint) (len(uvarint) delta)*count
//	str     = len(uvarint, <= 128) bytes
//
// A put record costs 10 bytes plus the version offset (2-4 bytes when the
// batch spans under a second), so a 1,000-byte broadcast carries ~70.
// flags bit 0 marks an authoritative snapshot of the owner's entries as of
// asOf (push/pull): entries of the owner not newer than asOf and absent from
// it are dropped. flags bit 1 narrows such a snapshot to one digest bucket
// (the top 6 bits of the hash; anti-entropy repairs one bucket at a time).

const (
	deltaVersion = 1
	stateVersion = 1
	flagSnapshot = 1
	flagBucket   = 2

	recPut = 1
	recDel = 2

	// maxRecordBytes bounds one encoded record.
	maxRecordBytes = 1 + 8 + 1 + binary.MaxVarintLen64
)

// ErrBadDelta: a directory delta or state that does not decode.
var ErrBadDelta = errors.New("cluster: bad directory delta")

// Delta is a decoded directory delta: changes to one owner's entries.
type Delta struct {
	Owner    string
	Epoch    uint64
	Snapshot bool
	Base     uint64 // the smallest record version: records store Ver-Base
	AsOf     uint64 // snapshot only: the owner's clock when it was taken
	// Bucketed narrows a snapshot to the records of digest bucket Bucket.
	Bucketed bool
	Bucket   int
	Records  []Record
}

// appendDelta encodes dl; it sets dl.Base to the smallest record version.
func appendDelta(b []byte, dl *Delta) []byte {
	dl.Base = 0
	for i, r := range dl.Records {
		if i == 0 || r.Ver < dl.Base {
			dl.Base = r.Ver
		}
	}
	b = append(b, deltaVersion)
	var flags byte
	if dl.Snapshot {
		flags |= flagSnapshot
		if dl.Bucketed {
			flags |= flagBucket
		}
	}
	b = append(b, flags)
	b = appendString(b, dl.Owner)
	b = binary.AppendUvarint(b, dl.Epoch)
	b = binary.AppendUvarint(b, dl.Base)
	if dl.Snapshot {
		b = binary.AppendUvarint(b, dl.AsOf)
		if dl.Bucketed {
			b = binary.AppendUvarint(b, uint64(dl.Bucket))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(dl.Records)))
	for _, r := range dl.Records {
		if r.Del {
			b = append(b, recDel)
			b = binary.LittleEndian.AppendUint64(b, r.Hash)
		} else {
			b = append(b, recPut)
			b = binary.LittleEndian.AppendUint64(b, r.Hash)
			b = append(b, byte(r.Kind))
		}
		b = binary.AppendUvarint(b, r.Ver-dl.Base)
	}
	return b
}

// decodeDelta decodes one delta into dl (its Records reused). It never
// panics on hostile input and allocates at most what b can hold.
func decodeDelta(b []byte, dl *Delta) error {
	d := decoder{b: b}
	if v := d.byte1("version"); d.err == nil && v != deltaVersion {
		return fmt.Errorf("%w: version %d", ErrBadDelta, v)
	}
	flags := d.byte1("flags")
	dl.Snapshot = flags&flagSnapshot != 0
	dl.Owner = d.str("owner")
	dl.Epoch = d.uvarint("epoch")
	dl.Base = d.uvarint("base")
	dl.AsOf, dl.Bucketed, dl.Bucket = 0, false, 0
	if dl.Snapshot {
		dl.AsOf = d.uvarint("as-of")
		if flags&flagBucket != 0 {
			dl.Bucketed = true
			bk := d.uvarint("bucket")
			if d.err == nil && bk >= digestBuckets {
				return fmt.Errorf("%w: bucket %d", ErrBadDelta, bk)
			}
			dl.Bucket = int(bk)
		}
	}
	n := d.uvarint("count")
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrBadDelta, d.err)
	}
	if dl.Owner == "" {
		return fmt.Errorf("%w: empty owner", ErrBadDelta)
	}
	// Every record is at least 10 bytes: a count beyond that is a lie.
	if n > uint64(len(d.b))/10 {
		return fmt.Errorf("%w: %d records in %d bytes", ErrBadDelta, n, len(d.b))
	}
	dl.Records = dl.Records[:0]
	for i := uint64(0); i < n; i++ {
		var r Record
		switch d.byte1("record op") {
		case recPut:
			r.Hash = d.u64("hash")
			r.Kind = tiers.Kind(d.byte1("kind"))
		case recDel:
			r.Hash = d.u64("hash")
			r.Del = true
		default:
			if d.err == nil {
				return fmt.Errorf("%w: record %d: unknown op", ErrBadDelta, i)
			}
		}
		off := d.uvarint("version")
		if d.err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrBadDelta, i, d.err)
		}
		r.Ver = dl.Base + off
		if r.Ver < dl.Base {
			return fmt.Errorf("%w: record %d: version overflow", ErrBadDelta, i)
		}
		dl.Records = append(dl.Records, r)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadDelta, len(d.b))
	}
	return nil
}

// apply merges dl into the directory; it reports whether anything changed
// (only then is the delta worth re-broadcasting).
func (d *Directory) apply(dl *Delta) bool {
	if dl.Snapshot {
		bucket := -1
		if dl.Bucketed {
			bucket = dl.Bucket
		}
		return d.replaceOwned(dl.Owner, dl.Epoch, dl.AsOf, bucket, dl.Records)
	}
	if len(dl.Records) == 0 {
		return false
	}
	// One owner for the whole delta: its slot is resolved once.
	slot, ok := d.slotFor(dl.Owner, dl.Epoch)
	if !ok {
		return false
	}
	changed := false
	for _, r := range dl.Records {
		nh := holder{ver: r.Ver, slot: slot}
		if !r.Del {
			nh.kind = uint8(max(r.Kind, tiers.KindMemory)) // 0 is the tombstone mark
		}
		if d.update(slot, r.Hash, nh) {
			changed = true
		}
	}
	return changed
}

// appendState wraps encoded deltas into one push/pull state.
func appendState(b []byte, deltas [][]byte) []byte {
	b = append(b, stateVersion)
	b = binary.AppendUvarint(b, uint64(len(deltas)))
	for _, dl := range deltas {
		b = binary.AppendUvarint(b, uint64(len(dl)))
		b = append(b, dl...)
	}
	return b
}

// eachStateDelta decodes a push/pull state and calls f with every delta
// (dl reused between calls). A malformed state stops at the first error.
func eachStateDelta(b []byte, f func(dl *Delta)) error {
	d := decoder{b: b}
	if v := d.byte1("state version"); d.err == nil && v != stateVersion {
		return fmt.Errorf("%w: state version %d", ErrBadDelta, v)
	}
	n := d.uvarint("delta count")
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrBadDelta, d.err)
	}
	var dl Delta
	for i := uint64(0); i < n; i++ {
		l := d.uvarint("delta length")
		if d.err != nil || l > uint64(len(d.b)) {
			return fmt.Errorf("%w: delta %d: truncated", ErrBadDelta, i)
		}
		if err := decodeDelta(d.b[:l], &dl); err != nil {
			return fmt.Errorf("delta %d: %w", i, err)
		}
		d.b = d.b[l:]
		f(&dl)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadDelta, len(d.b))
	}
	return nil
}
