package kvevents

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// ErrMalformed is returned for a payload that is not an EventBatch.
var ErrMalformed = errors.New("kvevents: malformed event batch")

// Encoding is the msgpack layout of a batch. vLLM's msgspec structs have
// been encoded both ways across releases: array_like (a batch is [ts,
// events, dp_rank] and an event [tag, fields...] in declaration order)
// and as maps (a batch {"ts", "events", "data_parallel_rank"} and an
// event a map whose "type" key holds the tag). Decoding accepts either
// for the batch and for each event.
type Encoding uint8

const (
	// EncodingMap is today's vLLM: maps with a "type" tag.
	EncodingMap Encoding = iota
	// EncodingArray is earlier releases: tagged arrays.
	EncodingArray
)

// Decoder decodes payloads; reuse one per goroutine (it keeps its
// buffers). Not safe for concurrent use.
type Decoder struct {
	r   bytes.Reader
	d   *msgpack.Decoder
	buf Batch
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	dec := &Decoder{}
	dec.d = msgpack.NewDecoder(&dec.r)
	return dec
}

// Decode parses one EventBatch payload. The returned Batch and its slices
// are reused by the next Decode. Events of a type this package does not
// know are skipped (counted in Unknown); anything else that does not
// parse is ErrMalformed.
func (dec *Decoder) Decode(payload []byte) (*Batch, int, error) {
	dec.r.Reset(payload)
	dec.d.ResetReader(&dec.r)
	b := &dec.buf
	evs := b.Events[:0]
	*b = Batch{}
	unknown := 0
	err := dec.decodeBatch(b, &evs, &unknown, len(payload))
	b.Events = evs
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.r.Len() != 0 {
		return nil, 0, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, dec.r.Len())
	}
	return b, unknown, nil
}

func (dec *Decoder) decodeBatch(b *Batch, evs *[]Event, unknown *int, size int) error {
	d := dec.d
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	if msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32 {
		n, err := d.DecodeMapLen()
		if err != nil {
			return err
		}
		sawEvents := false
		for i := 0; i < n; i++ {
			k, err := d.DecodeString()
			if err != nil {
				return err
			}
			switch k {
			case "ts":
				if b.TS, err = d.DecodeFloat64(); err != nil {
					return fmt.Errorf("ts: %w", err)
				}
			case "events":
				sawEvents = true
				if err := dec.decodeEvents(evs, unknown, size); err != nil {
					return err
				}
			case "data_parallel_rank":
				if err := dec.optInt(&b.DPRank, &b.HasDPRank); err != nil {
					return fmt.Errorf("data_parallel_rank: %w", err)
				}
			default:
				if err := d.Skip(); err != nil {
					return err
				}
			}
		}
		if !sawEvents {
			return errors.New("batch without events")
		}
		return nil
	}
	n, err := d.DecodeArrayLen()
	if err != nil {
		return fmt.Errorf("batch: want an array or a map: %w", err)
	}
	if n < 2 {
		return fmt.Errorf("batch array of %d elements", n)
	}
	if b.TS, err = d.DecodeFloat64(); err != nil {
		return fmt.Errorf("ts: %w", err)
	}
	if err := dec.decodeEvents(evs, unknown, size); err != nil {
		return err
	}
	if n >= 3 {
		if err := dec.optInt(&b.DPRank, &b.HasDPRank); err != nil {
			return fmt.Errorf("data_parallel_rank: %w", err)
		}
	}
	for i := 3; i < n; i++ {
		if err := d.Skip(); err != nil {
			return err
		}
	}
	return nil
}

func (dec *Decoder) decodeEvents(evs *[]Event, unknown *int, size int) error {
	n, err := dec.d.DecodeArrayLen()
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if n > size {
		return fmt.Errorf("events: %d in a %d-byte payload", n, size)
	}
	for i := 0; i < n; i++ {
		var ev *Event
		if len(*evs) < cap(*evs) {
			*evs = (*evs)[:len(*evs)+1]
			ev = &(*evs)[len(*evs)-1]
			hs, ts := ev.BlockHashes[:0], ev.TokenIDs[:0]
			*ev = Event{BlockHashes: hs, TokenIDs: ts}
		} else {
			*evs = append(*evs, Event{})
			ev = &(*evs)[len(*evs)-1]
		}
		if err := dec.decodeEvent(ev, size); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if ev.Kind == KindUnknown {
			*evs = (*evs)[:len(*evs)-1]
			*unknown++
		}
	}
	return nil
}

// Field order of the array_like events (the msgspec declaration order).
var (
	storedFields  = []string{"block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium", "lora_name"}
	removedFields = []string{"block_hashes", "medium"}
)

func (dec *Decoder) decodeEvent(ev *Event, size int) error {
	d := dec.d
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	if msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32 {
		n, err := d.DecodeMapLen()
		if err != nil {
			return err
		}
		// The tag may come anywhere; msgspec writes it first. Fields are
		// decoded as they come and checked against the kind at the end.
		for i := 0; i < n; i++ {
			k, err := d.DecodeString()
			if err != nil {
				return err
			}
			if k == "type" {
				tag, err := d.DecodeString()
				if err != nil {
					return fmt.Errorf("type: %w", err)
				}
				ev.Kind = kindOf(tag)
				if ev.Kind == KindUnknown {
					// Skip the rest of an event type we do not know.
					for j := i + 1; j < n; j++ {
						if err := d.Skip(); err != nil {
							return err
						}
						if err := d.Skip(); err != nil {
							return err
						}
					}
					return nil
				}
				continue
			}
			if err := dec.field(ev, k, size); err != nil {
				return err
			}
		}
		if ev.Kind == KindUnknown {
			return errors.New("event map without a type")
		}
		if ev.Kind != AllBlocksCleared {
			ev.Medium = normMedium(ev.Medium)
		}
		return nil
	}
	n, err := d.DecodeArrayLen()
	if err != nil {
		return fmt.Errorf("want an array or a map: %w", err)
	}
	if n < 1 {
		return errors.New("empty event array")
	}
	tag, err := d.DecodeString()
	if err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	ev.Kind = kindOf(tag)
	var fields []string
	switch ev.Kind {
	case BlockStored:
		fields = storedFields
	case BlockRemoved:
		fields = removedFields
	}
	for i := 1; i < n; i++ {
		if ev.Kind == KindUnknown || i-1 >= len(fields) {
			if err := d.Skip(); err != nil {
				return err
			}
			continue
		}
		if err := dec.field(ev, fields[i-1], size); err != nil {
			return err
		}
	}
	if ev.Kind == BlockStored || ev.Kind == BlockRemoved {
		ev.Medium = normMedium(ev.Medium)
	}
	return nil
}

// field decodes one named field of an event into ev; unknown names are
// skipped (newer vLLM adds fields such as extra_keys and group_idx).
func (dec *Decoder) field(ev *Event, name string, size int) error {
	d := dec.d
	var err error
	switch name {
	case "block_hashes":
		n, err := d.DecodeArrayLen()
		if err != nil {
			return fmt.Errorf("block_hashes: %w", err)
		}
		if n > size {
			return fmt.Errorf("block_hashes: %d in a %d-byte payload", n, size)
		}
		for i := 0; i < n; i++ {
			h, err := dec.hash()
			if err != nil {
				return fmt.Errorf("block_hashes[%d]: %w", i, err)
			}
			ev.BlockHashes = append(ev.BlockHashes, h)
		}
	case "parent_block_hash":
		if c, _ := d.PeekCode(); c == msgpcode.Nil {
			return d.DecodeNil()
		}
		ev.ParentBlockHash, err = dec.hash()
		ev.HasParent = err == nil
	case "token_ids":
		n, err := d.DecodeArrayLen()
		if err != nil {
			return fmt.Errorf("token_ids: %w", err)
		}
		if n > size {
			return fmt.Errorf("token_ids: %d in a %d-byte payload", n, size)
		}
		for i := 0; i < n; i++ {
			t, err := d.DecodeUint64()
			if err != nil || t > 1<<32-1 {
				return fmt.Errorf("token_ids[%d]: not a 32-bit token id (%v)", i, err)
			}
			ev.TokenIDs = append(ev.TokenIDs, uint32(t))
		}
	case "block_size":
		var v int64
		if v, err = d.DecodeInt64(); err == nil && (v < 0 || v > 1<<30) {
			err = fmt.Errorf("%d out of range", v)
		}
		ev.BlockSize = int(v)
	case "lora_id":
		err = dec.optInt(&ev.LoRAID, &ev.HasLoRAID)
	case "medium":
		ev.Medium, err = dec.optString()
	case "lora_name":
		ev.LoRAName, err = dec.optString()
	default:
		err = d.Skip()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// hash decodes an ExternalBlockHash: an integer, or bytes (the digest).
func (dec *Decoder) hash() (uint64, error) {
	d := dec.d
	c, err := d.PeekCode()
	if err != nil {
		return 0, err
	}
	if msgpcode.IsBin(c) || msgpcode.IsString(c) {
		n, err := d.DecodeBytesLen()
		if err != nil {
			return 0, err
		}
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("a %d-byte block hash", n)
		}
		var b [64]byte
		if err := d.ReadFull(b[:n]); err != nil {
			return 0, err
		}
		return hashOfBytes(b[:n]), nil
	}
	if c == msgpcode.Int64 || c == msgpcode.Int32 || c == msgpcode.Int16 || c == msgpcode.Int8 || msgpcode.IsFixedNum(c) && int8(c) < 0 {
		v, err := d.DecodeInt64()
		return uint64(v), err // Python ints are unbounded; a negative one keeps its low 64 bits
	}
	return d.DecodeUint64()
}

func (dec *Decoder) optInt(v *int64, ok *bool) error {
	if c, _ := dec.d.PeekCode(); c == msgpcode.Nil {
		*ok = false
		return dec.d.DecodeNil()
	}
	x, err := dec.d.DecodeInt64()
	*v, *ok = x, err == nil
	return err
}

func (dec *Decoder) optString() (string, error) {
	if c, _ := dec.d.PeekCode(); c == msgpcode.Nil {
		return "", dec.d.DecodeNil()
	}
	return dec.d.DecodeString()
}

// Encode appends the msgpack payload of b in encoding enc to dst, in the
// layout vLLM's msgspec structs produce (omit_defaults: fields that have a
// default and hold it are left out).
func Encode(dst []byte, b *Batch, enc Encoding) ([]byte, error) {
	w := bytes.NewBuffer(dst)
	e := msgpack.GetEncoder()
	defer msgpack.PutEncoder(e)
	e.Reset(w)
	e.UseCompactInts(true)
	var err error
	put := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	if enc == EncodingArray {
		n := 2
		if b.HasDPRank {
			n = 3
		}
		put(func() error { return e.EncodeArrayLen(n) })
	} else {
		n := 2
		if b.HasDPRank {
			n = 3
		}
		put(func() error { return e.EncodeMapLen(n) })
		put(func() error { return e.EncodeString("ts") })
	}
	put(func() error { return e.EncodeFloat64(b.TS) })
	if enc == EncodingMap {
		put(func() error { return e.EncodeString("events") })
	}
	put(func() error { return e.EncodeArrayLen(len(b.Events)) })
	for i := range b.Events {
		ev := &b.Events[i]
		put(func() error { return encodeEvent(e, ev, enc) })
	}
	if b.HasDPRank {
		if enc == EncodingMap {
			put(func() error { return e.EncodeString("data_parallel_rank") })
		}
		put(func() error { return e.EncodeInt(b.DPRank) })
	}
	return w.Bytes(), err
}

func encodeEvent(e *msgpack.Encoder, ev *Event, enc Encoding) error {
	type kv struct {
		k string
		f func() error
	}
	hashes := func() error {
		if err := e.EncodeArrayLen(len(ev.BlockHashes)); err != nil {
			return err
		}
		for _, h := range ev.BlockHashes {
			if err := e.EncodeUint(h); err != nil {
				return err
			}
		}
		return nil
	}
	optString := func(s string) func() error {
		return func() error {
			if s == "" {
				return e.EncodeNil()
			}
			return e.EncodeString(s)
		}
	}
	var fields []kv
	switch ev.Kind {
	case BlockStored:
		fields = []kv{
			{"block_hashes", hashes},
			{"parent_block_hash", func() error {
				if !ev.HasParent {
					return e.EncodeNil()
				}
				return e.EncodeUint(ev.ParentBlockHash)
			}},
			{"token_ids", func() error {
				if err := e.EncodeArrayLen(len(ev.TokenIDs)); err != nil {
					return err
				}
				for _, t := range ev.TokenIDs {
					if err := e.EncodeUint(uint64(t)); err != nil {
						return err
					}
				}
				return nil
			}},
			{"block_size", func() error { return e.EncodeInt(int64(ev.BlockSize)) }},
			{"lora_id", func() error {
				if !ev.HasLoRAID {
					return e.EncodeNil()
				}
				return e.EncodeInt(ev.LoRAID)
			}},
			{"medium", optString(ev.Medium)},
			{"lora_name", optString(ev.LoRAName)},
		}
	case BlockRemoved:
		fields = []kv{{"block_hashes", hashes}, {"medium", optString(ev.Medium)}}
	case AllBlocksCleared:
	default:
		return fmt.Errorf("kvevents: cannot encode an event of kind %d", ev.Kind)
	}
	if enc == EncodingArray {
		if err := e.EncodeArrayLen(1 + len(fields)); err != nil {
			return err
		}
		if err := e.EncodeString(ev.Kind.String()); err != nil {
			return err
		}
		for _, f := range fields {
			if err := f.f(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := e.EncodeMapLen(1 + len(fields)); err != nil {
		return err
	}
	if err := e.EncodeString("type"); err != nil {
		return err
	}
	if err := e.EncodeString(ev.Kind.String()); err != nil {
		return err
	}
	for _, f := range fields {
		if err := e.EncodeString(f.k); err != nil {
			return err
		}
		if err := f.f(); err != nil {
			return err
		}
	}
	return nil
}
