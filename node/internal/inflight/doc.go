// Package inflight is a node's budget of value bytes in flight on its
// client connections: values being read from clients (pooled buffers and
// tier reservations a streamed store fills) and values being written to
// them (tier views a reply holds). Both protocol servers draw from one
// Budget, so hostile or slow clients together can make the node hold at
// most its size.
//
// It imports the standard library and golang.org/x/sync only.
package inflight
