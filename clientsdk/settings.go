package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// SchemeStrataCache names the chained xxhash64 prefix hash (docs/hashing.md),
// the scheme the Hasher computes and a node announces by default.
const SchemeStrataCache = "stratacache"

// NodeSettings is what a node says about itself in its HELLO reply
// (docs/protocol.md): the settings its engines name KV chunks with, and
// the limits it enforces on requests.
type NodeSettings struct {
	// Server and Version name the software and the protocol version.
	Server  string
	Version int
	// ChunkSize is the tokens per KV chunk the node is configured for
	// (chunk_size); 0 when it does not say.
	ChunkSize int
	// SavePartialChunks says whether a trailing short chunk is stored
	// (save_partial_chunks).
	SavePartialChunks bool
	// HashScheme names the prefix hash of its chunk keys (hash_scheme;
	// "stratacache" when it does not say).
	HashScheme string
	// MaxPayload bounds one value, MaxRequest one request's payloads
	// together, MaxBatch the ids of one batch; 0 when not announced.
	MaxPayload, MaxRequest int64
	MaxBatch               int
	// Attrs are all the attributes of the reply.
	Attrs map[string]string
}

// ParseSettings reads a node's HELLO attributes. Attributes it does not
// know are kept in Attrs only; one that it knows but cannot read is an
// ErrProtocol.
func ParseSettings(attrs map[string]string) (NodeSettings, error) {
	s := NodeSettings{Server: attrs["server"], HashScheme: SchemeStrataCache, Attrs: attrs}
	var errs []error
	num := func(key string, bits int) int64 {
		v, ok := attrs[key]
		if !ok {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q", key, v))
			return 0
		}
		return n
	}
	s.Version = int(num("version", 32))
	s.ChunkSize = int(num("chunk_size", 32))
	s.MaxPayload = num("max_payload", 64)
	s.MaxRequest = num("max_request", 64)
	s.MaxBatch = int(num("max_batch", 32))
	if v, ok := attrs["save_partial_chunks"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("save_partial_chunks=%q", v))
		}
		s.SavePartialChunks = b
	}
	if v := attrs["hash_scheme"]; v != "" {
		s.HashScheme = v
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%w: HELLO attributes that do not parse: %w", ErrProtocol, errors.Join(errs...))
	}
	return s, nil
}

// checkPayload refuses a value over the node's max_payload, as the node
// would, before it is sent.
func (s *NodeSettings) checkPayload(n int) error {
	if s == nil || s.MaxPayload <= 0 || int64(n) <= s.MaxPayload {
		return nil
	}
	return remoteErr(codeTooLarge, fmt.Sprintf("payload of %d bytes (max %d: the node's max_payload)", n, s.MaxPayload))
}

// checkBatch refuses a batch over the node's max_batch or max_request.
func (s *NodeSettings) checkBatch(ids int, payloads [][]byte) error {
	if s == nil {
		return nil
	}
	if s.MaxBatch > 0 && ids > s.MaxBatch {
		return remoteErr(codeTooLarge, fmt.Sprintf("batch of %d ids (max %d: the node's max_batch)", ids, s.MaxBatch))
	}
	var total int64
	for _, p := range payloads {
		if err := s.checkPayload(len(p)); err != nil {
			return err
		}
		total += int64(len(p))
	}
	if s.MaxRequest > 0 && total > s.MaxRequest {
		return remoteErr(codeTooLarge, fmt.Sprintf("batch of %d payload bytes (max %d: the node's max_request)", total, s.MaxRequest))
	}
	return nil
}

// Check compares the node's settings with the HashConfig a client hashes
// prompts with: the node's chunk size must be one of its BlockSizes, and
// partial chunks and the hash scheme must agree; otherwise the client's
// chunk ids name chunks the node's engines never store. The error wraps
// ErrSettings and lists every disagreement.
func (s NodeSettings) Check(hc HashConfig) error {
	var bad []string
	sizes := hc.BlockSizes
	if len(sizes) == 0 {
		sizes = []int{defaultBlockSize}
	}
	if s.ChunkSize > 0 && !slices.Contains(sizes, s.ChunkSize) {
		bad = append(bad, fmt.Sprintf("the node's chunk_size is %d, the client hashes blocks of %v (HashConfig.BlockSizes)", s.ChunkSize, sizes))
	}
	if _, ok := s.Attrs["save_partial_chunks"]; ok && s.SavePartialChunks != hc.Partial {
		bad = append(bad, fmt.Sprintf("the node's save_partial_chunks is %v, HashConfig.Partial %v", s.SavePartialChunks, hc.Partial))
	}
	if want := hc.scheme(); s.HashScheme != want {
		bad = append(bad, fmt.Sprintf("the node's hash_scheme is %q, the client's %q", s.HashScheme, want))
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrSettings, strings.Join(bad, "; "))
}

// settingsCheck applies the client's settings policy to a node's HELLO:
// nil without WithHashConfig; with it, a disagreement fails the
// connection (ErrSettings) or, with WithSettingsWarning, is reported once
// per node and the connection kept.
func (c *Client) settingsCheck(addr string, s NodeSettings) error {
	hc := c.o.HashConfig
	if hc == nil {
		return nil
	}
	err := s.Check(*hc)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", addr, err)
	if w := c.o.OnSettingsMismatch; w != nil {
		if _, seen := c.warned.LoadOrStore(addr, true); !seen {
			w(addr, err)
		}
		return nil
	}
	return err
}

// Settings returns what node (a member name or a host:port address)
// announced in its HELLO, dialling it if no connection is open. In
// embedded mode it is the in-process node's settings (ErrUnsupported when
// it does not report them).
func (c *Client) Settings(ctx context.Context, node string) (NodeSettings, error) {
	if c.o.Embedded != nil {
		if c.embeddedSettings == nil {
			return NodeSettings{}, fmt.Errorf("%w: the embedded node does not report its settings", ErrUnsupported)
		}
		return *c.embeddedSettings, nil
	}
	var s NodeSettings
	err := c.On(node).do(ctx, func(cn *conn) error {
		s = *cn.settings
		return nil
	})
	return s, err
}

const defaultBlockSize = 16

// scheme is the hash scheme hc names ("" is the StrataCache scheme).
func (hc HashConfig) scheme() string {
	if hc.Scheme == "" {
		return SchemeStrataCache
	}
	return hc.Scheme
}
