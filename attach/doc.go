// Package attach maps a CXL pool that another process owns (a StrataCache
// node's cxl tier) read-only and reads artifacts in place, zero-copy, given
// their Location. The owner keeps writing meanwhile: every read is
// optimistic and is checked afterwards (Span.Valid) against the extent's
// generation and the index slot that published it, so an eviction, delete
// or overwrite that raced with the read is detected, never served.
//
// It is the one reader of the pool format outside the tier: tiers/cxl
// re-exports it (cxl.OpenReadOnly) and clientsdk's local-attach mode uses
// it. So that clientsdk stays light, attach may import only artifact/,
// extent/ (the on-media formats) and golang.org/x/sys/unix; never tiers/,
// actors/, cluster/, node/ or clientsdk/.
package attach
