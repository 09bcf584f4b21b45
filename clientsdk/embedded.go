package clientsdk

import (
	"context"
	"errors"

	"github.com/stratacache/stratacache/artifact"
)

// Embedded is what the client needs from a node running in the same
// process (embedded mode): the same operations as the native protocol,
// without a socket. node/ satisfies it; clientsdk never imports node/.
type Embedded interface {
	// Store stores payload under id (meta's dtype, shape, TTL, epoch).
	Store(ctx context.Context, id artifact.ID, payload []byte, meta artifact.Meta) error
	// Load appends id's payload to dst and returns it with its metadata.
	Load(ctx context.Context, dst []byte, id artifact.ID) ([]byte, artifact.Meta, error)
	// Contains reports whether the node (or, through its remote tier, the
	// cluster) holds id.
	Contains(ctx context.Context, id artifact.ID) (bool, error)
	// Delete removes id and reports whether it was present.
	Delete(ctx context.Context, id artifact.ID) (bool, error)
	// Prefetch warms ids into the node's top tier; it returns how many
	// were warmed.
	Prefetch(ctx context.Context, ids []artifact.ID) (int, error)
	// ErrorCode names an error returned by the methods above with the
	// native protocol's error_code ("not_found", "too_large", ...), so
	// that embedded and remote callers match the same sentinels.
	ErrorCode(err error) string
}

// EmbeddedSettings is implemented by an embedded node that reports its
// settings: the attributes its native port's HELLO carries (chunk_size,
// save_partial_chunks, hash_scheme, max_payload, ...). The client then
// checks them against its HashConfig and enforces max_payload as it does
// with a remote node, so both modes answer alike.
type EmbeddedSettings interface {
	Settings() map[string]string
}

// attachEmbedded reads and checks the embedded node's settings (New).
func (c *Client) attachEmbedded() error {
	es, ok := c.o.Embedded.(EmbeddedSettings)
	if !ok {
		return nil
	}
	s, err := ParseSettings(es.Settings())
	if err == nil {
		err = c.settingsCheck("embedded", s)
	}
	if err != nil {
		return err
	}
	c.embeddedSettings = &s
	return nil
}

// embeddedErr maps an embedded node's error to the SDK's sentinels.
func embeddedErr(e Embedded, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return remoteErr(e.ErrorCode(err), err.Error())
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
