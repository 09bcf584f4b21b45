package clientsdk

import (
	"errors"
	"fmt"

	"github.com/stratacache/stratacache/messages"
)

// Errors a caller can match with errors.Is. Error replies of a node map to
// them by the wire's error_code (docs/protocol.md); the node's text is kept
// in the wrapping error.
var (
	ErrNotFound    = errors.New("clientsdk: not found")
	ErrTooLarge    = errors.New("clientsdk: too large")
	ErrNoSpace     = errors.New("clientsdk: no space")
	ErrCollision   = errors.New("clientsdk: key collision")
	ErrCorrupt     = errors.New("clientsdk: corrupt payload")
	ErrInvalid     = errors.New("clientsdk: invalid argument")
	ErrNodeClosing = errors.New("clientsdk: node shutting down")
	ErrAuth        = errors.New("clientsdk: authentication refused")
	ErrProtocol    = errors.New("clientsdk: protocol error")
	ErrUnsupported = errors.New("clientsdk: operation not supported by the node")
	ErrBusy        = errors.New("clientsdk: node busy")
	ErrRemote      = errors.New("clientsdk: node internal error")
	// ErrNoNodes: the client knows no node to send the request to.
	ErrNoNodes = errors.New("clientsdk: no nodes")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("clientsdk: client closed")
	// ErrShortBuffer: a caller buffer too small for the payload (GetInto).
	ErrShortBuffer = errors.New("clientsdk: buffer too small")
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

// replyError is an OP_ERROR reply from a node.
func replyError(h *messages.FrameHeader) error {
	return fmt.Errorf("%w: %s: %s", sentinelOf(h.GetErrorCode()), h.GetErrorCode(), h.GetError())
}

// connFatal reports whether an error reply is followed by the node closing
// the connection (docs/protocol.md): the connection must not be reused.
func connFatal(code string) bool {
	return code == codeAuth || code == codeProtocol || code == codeBusy
}
