package clientsdk

import (
	"crypto/tls"
	"time"

	"github.com/stratacache/stratacache/messages/frame"
)

// Options are the client's knobs; New takes functional Options over
// DefaultOptions.
type Options struct {
	// Nodes are native-protocol addresses (host:port) used when the Index
	// knows no members yet.
	Nodes []string
	// Token is presented in HELLO when the nodes require auth.
	Token string
	// PeerToken, when set, is presented on nodes' peer ports instead of
	// Token. Not needed: a node maps Token (its auth.token) to the client
	// role there (Prefetch, the Follower's views), and a subscriber's
	// token to the read-only role. It serves a client whose peer-port
	// credential differs from its data-port one (a subscriber token for
	// the Follower, say); nodes no longer take auth.token as their peer
	// token, so a client never holds the peer role.
	PeerToken string
	// TLS, when set, wraps every connection.
	TLS *tls.Config
	// ClientName is sent in HELLO for the node's logs.
	ClientName string
	// MaxConnsPerNode bounds the connections open to one node; a request
	// beyond it waits for a connection to come back.
	MaxConnsPerNode int
	// MaxIdlePerNode bounds the idle connections kept per node.
	MaxIdlePerNode int
	// DialTimeout bounds one TCP connect.
	DialTimeout time.Duration
	// HandshakeTimeout bounds TLS and HELLO once connected: a listener
	// that does not answer HELLO within it is not a native port
	// (ErrProtocol). Default 1 s.
	HandshakeTimeout time.Duration
	// RequestTimeout applies when the caller's context has no deadline;
	// zero leaves such requests unbounded.
	RequestTimeout time.Duration
	// Retries is how many times a request failing with a transient error
	// (connection refused/reset, busy, node shutting down) is tried again.
	Retries int
	// BackoffBase and BackoffMax bound the exponential backoff between
	// retries (full jitter).
	BackoffBase, BackoffMax time.Duration
	// Seed drives the backoff jitter (deterministic tests).
	Seed uint64
	// Limits bound the replies accepted.
	Limits frame.Limits
	// Index, when set, routes each request to the artifact's owner (or its
	// rendezvous home among the Index's members) instead of Nodes.
	Index *Index
	// Embedded, when set, serves every request in-process.
	Embedded Embedded
	// HashConfig, when set, is how the client hashes prompts (Scores) and
	// what every node's HELLO settings are checked against (chunk size,
	// partial chunks, hash scheme): a node that disagrees fails the
	// connection with ErrSettings, unless OnSettingsMismatch is set.
	HashConfig *HashConfig
	// OnSettingsMismatch, when set, turns a settings disagreement into a
	// warning: it is called once per node (and must not block) and the
	// connection is used anyway.
	OnSettingsMismatch func(addr string, err error)
	// UnavailableAsMiss makes a read whose holder is unreachable, while
	// the other nodes do not have the artifact, a miss (ErrNotFound, or
	// false from Exists) instead of ErrUnavailable.
	UnavailableAsMiss bool

	// skipLimitCheck sends oversize payloads instead of refusing them
	// from the node's HELLO limits (tests of the node's own answer).
	skipLimitCheck bool
}

// DefaultOptions: 2 retries with 5-200 ms backoff, up to 64 connections
// per node (all kept when idle), 5 s connect timeout, 1 s handshake.
func DefaultOptions() Options {
	return Options{
		ClientName:       "clientsdk",
		MaxConnsPerNode:  64,
		MaxIdlePerNode:   64,
		DialTimeout:      5 * time.Second,
		HandshakeTimeout: time.Second,
		Retries:          2,
		BackoffBase:      5 * time.Millisecond,
		BackoffMax:       200 * time.Millisecond,
		Seed:             1,
		Limits:           frame.DefaultLimits(),
	}
}

// Option sets one knob.
type Option func(*Options)

// WithNodes sets the native addresses to use without an Index.
func WithNodes(addrs ...string) Option { return func(o *Options) { o.Nodes = addrs } }

// WithToken sets the HELLO auth token.
func WithToken(tok string) Option { return func(o *Options) { o.Token = tok } }

// WithTLS wraps connections in TLS.
func WithTLS(c *tls.Config) Option { return func(o *Options) { o.TLS = c } }

// WithRetries sets the retry count and backoff bounds.
func WithRetries(n int, base, max time.Duration) Option {
	return func(o *Options) { o.Retries, o.BackoffBase, o.BackoffMax = n, base, max }
}

// WithRequestTimeout bounds requests whose context has no deadline.
func WithRequestTimeout(d time.Duration) Option { return func(o *Options) { o.RequestTimeout = d } }

// WithMaxIdlePerNode sets the idle pool size per node.
func WithMaxIdlePerNode(n int) Option { return func(o *Options) { o.MaxIdlePerNode = n } }

// WithIndex routes requests through ix (smart routing).
func WithIndex(ix *Index) Option { return func(o *Options) { o.Index = ix } }

// WithEmbedded serves requests from a node in the same process.
func WithEmbedded(e Embedded) Option { return func(o *Options) { o.Embedded = e } }

// WithSeed seeds the backoff jitter.
func WithSeed(s uint64) Option { return func(o *Options) { o.Seed = s } }

// WithPeerToken sets the token presented on nodes' peer ports instead of
// the client token (Options.PeerToken).
func WithPeerToken(tok string) Option { return func(o *Options) { o.PeerToken = tok } }

// WithMaxConnsPerNode bounds the connections open to one node.
func WithMaxConnsPerNode(n int) Option { return func(o *Options) { o.MaxConnsPerNode = n } }

// WithHandshakeTimeout bounds TLS + HELLO after the connect (default 1 s).
func WithHandshakeTimeout(d time.Duration) Option { return func(o *Options) { o.HandshakeTimeout = d } }

// WithUnavailableAsMiss folds "the holder is unreachable and no other node
// has it" into a miss (ErrNotFound; Exists false), for callers that
// recompute on any miss and do not care why.
func WithUnavailableAsMiss() Option { return func(o *Options) { o.UnavailableAsMiss = true } }

// WithHashConfig sets how the client hashes prompts (Scores) and checks
// every node's settings against it (see Options.HashConfig).
func WithHashConfig(hc HashConfig) Option { return func(o *Options) { o.HashConfig = &hc } }

// WithSettingsWarning reports a node whose settings disagree with the
// HashConfig to warn (once per node) instead of failing its connections.
func WithSettingsWarning(warn func(addr string, err error)) Option {
	return func(o *Options) { o.OnSettingsMismatch = warn }
}
