package node

import (
	"context"
	"errors"
	"strconv"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node/native"
)

// The methods below are what clientsdk's embedded mode needs from a node in
// the same process (clientsdk.Embedded, declared there so that neither
// package imports the other): the native protocol's operations without a
// socket, against the node's engine in chain mode.

// Store stores payload under id through the chain.
func (n *Node) Store(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error {
	return n.eng.Store(ctx, id, payload, actors.StoreOptions{Meta: meta})
}

// Load appends id's payload to dst and returns it with its metadata; a
// lower-tier (or remote) hit is promoted as for any chain read.
func (n *Node) Load(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error) {
	v, _, err := n.eng.View(ctx, id, actors.Chain())
	if err != nil {
		return dst, artifact.Meta{}, err
	}
	defer v.Release()
	return append(dst, v.Bytes()...), v.Meta(), nil
}

// Contains reports whether the chain (the cluster too, for a clustered
// node) holds id.
func (n *Node) Contains(ctx context.Context, id artifact.ID) (bool, error) {
	return n.eng.Contains(ctx, id, actors.Chain())
}

// Delete removes id from every tier.
func (n *Node) Delete(ctx context.Context, id artifact.ID) (bool, error) {
	return n.eng.Delete(ctx, id)
}

// Prefetch warms ids into the top tier: each is viewed through the chain,
// which promotes a lower-tier hit (PromoteOnHit), and released without a
// copy. It returns how many were found.
func (n *Node) Prefetch(ctx context.Context, ids []artifact.ID) (int, error) {
	found := 0
	for _, id := range ids {
		v, _, err := n.eng.View(ctx, id, actors.Chain())
		if errors.Is(err, actors.ErrNotFound) {
			continue
		}
		if err != nil {
			return found, err
		}
		v.Release()
		found++
	}
	return found, nil
}

// ErrorCode names err with the native protocol's error_code.
func (n *Node) ErrorCode(err error) string { return native.ErrorCode(err) }

// helloAttrs are the settings the native port announces in its HELLO
// reply besides its limits (native.Server adds server, version and the
// max_* limits): what clients check their hashing against.
func helloAttrs(cfg Config) map[string]string {
	return map[string]string{
		"chunk_size":          strconv.Itoa(cfg.ChunkSize),
		"save_partial_chunks": strconv.FormatBool(cfg.SavePartialChunks),
		// The key scheme engines name KV chunks with (docs/hashing.md);
		// the only one nodes are configured for today.
		"hash_scheme": "stratacache",
	}
}

// Settings are the attributes the node's native port announces in HELLO
// (clientsdk.EmbeddedSettings: an embedded client checks and enforces
// them as a remote one does).
func (n *Node) Settings() map[string]string {
	a := helloAttrs(n.cfg)
	lim := native.Limits{MaxPayload: n.cfg.Limits.MaxPayloadMB << 20, MaxRequest: n.cfg.Limits.MaxRequestMB << 20, MaxBatch: n.cfg.Limits.MaxBatch}
	for k, v := range native.HelloAttrs(lim) {
		a[k] = v
	}
	return a
}
