// Package resp is StrataCache's Redis-compatible port: a hand-written RESP2
// codec (binary-safe bulk strings, inline commands, pipelining, limits
// checked before any buffer is allocated) and a server that maps the string
// commands redis-cli, redis-benchmark and LMCache's redis:// connector use
// onto the storage engine, keys in the blob namespace.
//
// Large values are not copied on the way out: GET writes the engine's
// zero-copy view straight to the socket (writev) and releases it after the
// write. Values are read once from the socket into a pooled buffer and copied
// once into the tier.
//
// resp imports actors/, artifact/ and tiers/ (for errors and views). It must
// not import node/, cluster/, clientsdk/ or the native protocol package.
package resp
