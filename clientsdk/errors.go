package clientsdk

import (
	"errors"
	"fmt"

	"github.com/stratacache/stratacache/messages"
)

// Errors a caller can match with errors.Is. A node's answers map to them
// by the wire's error_code (docs/protocol.md), with the node's code and
// text kept in the message; embedded mode maps the node's errors through
// the same codes, so both modes return the same sentinels and texts.
// docs/clientsdk.md ("Errors") lists when each is returned.
var (
	// ErrNotFound: no node holds the artifact (and its holder, when the
	// index names one, answered: see ErrUnavailable).
	ErrNotFound = errors.New("clientsdk: not found")
	// ErrTooLarge: a payload over the node's max_payload (checked from
	// its HELLO before anything is sent, or answered by the node), a
	// batch over max_request or max_batch, or a value larger than the
	// node's tiers. Never retried.
	ErrTooLarge    = errors.New("clientsdk: too large")
	ErrNoSpace     = errors.New("clientsdk: no space")
	ErrCollision   = errors.New("clientsdk: key collision")
	ErrCorrupt     = errors.New("clientsdk: corrupt payload")
	ErrInvalid     = errors.New("clientsdk: invalid argument")
	ErrNodeClosing = errors.New("clientsdk: node shutting down")
	ErrAuth        = errors.New("clientsdk: authentication refused")
	// ErrProtocol: the peer does not speak the native protocol (no
	// HELLO reply within HandshakeTimeout, a frame that does not parse)
	// or broke it; also the node's own "protocol" answer.
	ErrProtocol    = errors.New("clientsdk: protocol error")
	ErrUnsupported = errors.New("clientsdk: operation not supported by the node")
	ErrBusy        = errors.New("clientsdk: node busy")
	ErrRemote      = errors.New("clientsdk: node internal error")
	// ErrUnavailable: a node could not be reached or stopped answering
	// (connection refused or reset, EOF, a connect or request timeout of
	// the client's own bounds); and a Get/Exists whose holder is
	// unreachable while the other nodes do not have it (unless
	// WithUnavailableAsMiss). The network error is wrapped beside it.
	ErrUnavailable = errors.New("clientsdk: node unavailable")
	// ErrSettings: a node's settings (HELLO) disagree with the client's
	// HashConfig (WithHashConfig), so the client's hashes would name
	// chunks the node's engines never store.
	ErrSettings = errors.New("clientsdk: node settings disagree with the client")
	// ErrNoNodes: the client knows no node to send the request to (or
	// every member is down, for Scores).
	ErrNoNodes = errors.New("clientsdk: no nodes")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("clientsdk: client closed")
)

// Error codes of the native protocol (docs/protocol.md, "Errors").
const (
	codeNotFound    = "not_found"
	codeTooLarge    = "too_large"
	codeNoSpace     = "no_space"
	codeCollision   = "collision"
	codeInvalid     = "invalid_argument"
	codeClosed      = "closed"
	codeAuth        = "auth"
	codeProtocol    = "protocol"
	codeUnsupported = "unsupported"
	codeBusy        = "busy"
	codeCorrupt     = "corrupt"
	codeInternal    = "internal"
)

// sentinelOf maps a wire error code to the SDK's sentinel.
func sentinelOf(code string) error {
	switch code {
	case codeNotFound:
		return ErrNotFound
	case codeTooLarge:
		return ErrTooLarge
	case codeNoSpace:
		return ErrNoSpace
	case codeCollision:
		return ErrCollision
	case codeCorrupt:
		return ErrCorrupt
	case codeInvalid, "bad_request":
		return ErrInvalid
	case codeClosed:
		return ErrNodeClosing
	case codeAuth, "unauthorized":
		return ErrAuth
	case codeProtocol:
		return ErrProtocol
	case codeUnsupported:
		return ErrUnsupported
	case codeBusy:
		return ErrBusy
	}
	return ErrRemote
}

// remoteErr is the error for a node's answer with code and msg: the same
// text whether the node answered over the wire or in-process (embedded).
func remoteErr(code, msg string) error {
	return fmt.Errorf("%w: %s: %s", sentinelOf(code), code, msg)
}

// replyError is an OP_ERROR reply from a node.
func replyError(h *messages.FrameHeader) error { return remoteErr(h.GetErrorCode(), h.GetError()) }

// connFatal reports whether an error reply is followed by the node closing
// the connection (docs/protocol.md): the connection must not be reused.
func connFatal(code string) bool {
	return code == codeAuth || code == codeProtocol || code == codeBusy
}
