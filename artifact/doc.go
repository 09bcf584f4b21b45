// Package artifact defines what StrataCache stores: the artifact identity
// (namespace + key reduced to a 64-bit xxhash id, the full key kept so that a
// hash collision is detected and never served), its metadata, and the key
// builders for KV-cache chunks and parameter chunks. The chained prefix hash
// that names a KV chunk's prefix (KVKey.PrefixHash) is placement/'s, with
// the other things routers and engines must compute identically.
//
// artifact sits at the very bottom of the module: it imports nothing of this
// module (messages/ imports it for the wire conversions).
package artifact
