package cxl

import "github.com/stratacache/stratacache/attach"

// Reader is a read-only attachment to a pool another process owns; see
// package attach, which holds the reader so that clients can use it without
// importing the tier.
type Reader = attach.Reader

// Span is an artifact read in place through a Reader; see attach.Span.
type Span = attach.Span

// OpenReadOnly attaches to the pool on path (a DAX device or a pool file).
func OpenReadOnly(path string) (*Reader, error) { return attach.Open(path) }
