// Package bufpool pools the large byte buffers the protocol servers read
// values into, in power-of-two size classes from 4 KiB, so that a
// connection streaming multi-MiB values reuses a few buffers instead of
// allocating per request.
//
// bufpool imports only the standard library; nothing outside node/ may
// import it.
package bufpool
