package artifact

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadKeyPart is returned when a key builder is given an empty model or
// parameter name, a negative index, or a layer range that is out of order.
var ErrBadKeyPart = errors.New("artifact: bad key part")

// Layers selects the layers a KV chunk holds: one layer (From == To), a
// bundle of adjacent layers [From, To], or all layers (All).
type Layers struct {
	All      bool
	From, To int
}

// AllLayers is a KV chunk that bundles every layer.
var AllLayers = Layers{All: true}

// Layer is a KV chunk of a single layer.
func Layer(n int) Layers { return Layers{From: n, To: n} }

// KVKey names one KV-cache chunk. The key text is
//
//	<model>@<prefix hash as 16 hex digits>/<layers>[#<extra>]...
//
// where <layers> is "all", "L<n>" or "L<from>-<to>". Readable keys make the
// RESP port and logs useful; the layout is fixed because routers and engines
// must build identical keys.
type KVKey struct {
	Model      string
	PrefixHash uint64
	Layers     Layers
	Extra      []string
}

// AppendKey appends the key text to dst.
func (k KVKey) AppendKey(dst []byte) ([]byte, error) {
	if k.Model == "" {
		return dst, fmt.Errorf("%w: empty model", ErrBadKeyPart)
	}
	dst = append(dst, k.Model...)
	dst = append(dst, '@')
	dst = appendHex16(dst, k.PrefixHash)
	dst = append(dst, '/')
	switch {
	case k.Layers.All:
		dst = append(dst, "all"...)
	case k.Layers.From < 0 || k.Layers.To < k.Layers.From:
		return dst, fmt.Errorf("%w: layers %d-%d", ErrBadKeyPart, k.Layers.From, k.Layers.To)
	case k.Layers.From == k.Layers.To:
		dst = append(dst, 'L')
		dst = strconv.AppendInt(dst, int64(k.Layers.From), 10)
	default:
		dst = append(dst, 'L')
		dst = strconv.AppendInt(dst, int64(k.Layers.From), 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(k.Layers.To), 10)
	}
	for _, e := range k.Extra {
		dst = append(dst, '#')
		dst = append(dst, e...)
	}
	return dst, nil
}

// ID builds the artifact id of the chunk in the kv namespace.
func (k KVKey) ID() (ID, error) {
	key, err := k.AppendKey(nil)
	if err != nil {
		return ID{}, err
	}
	return NewID(NamespaceKV, key)
}

// ParamKey names one chunk of a model parameter:
//
//	<model>/<parameter name>#<chunk index>
type ParamKey struct {
	Model string
	Name  string
	Chunk int
}

// AppendKey appends the key text to dst.
func (k ParamKey) AppendKey(dst []byte) ([]byte, error) {
	if k.Model == "" || k.Name == "" {
		return dst, fmt.Errorf("%w: empty model or parameter name", ErrBadKeyPart)
	}
	if k.Chunk < 0 {
		return dst, fmt.Errorf("%w: chunk index %d", ErrBadKeyPart, k.Chunk)
	}
	dst = append(dst, k.Model...)
	dst = append(dst, '/')
	dst = append(dst, k.Name...)
	dst = append(dst, '#')
	dst = strconv.AppendInt(dst, int64(k.Chunk), 10)
	return dst, nil
}

// ID builds the artifact id of the chunk in the param namespace.
func (k ParamKey) ID() (ID, error) {
	key, err := k.AppendKey(nil)
	if err != nil {
		return ID{}, err
	}
	return NewID(NamespaceParam, key)
}

const hexDigits = "0123456789abcdef"

func appendHex16(dst []byte, v uint64) []byte {
	for i := 15; i >= 0; i-- {
		dst = append(dst, hexDigits[(v>>(uint(i)*4))&0xf])
	}
	return dst
}
